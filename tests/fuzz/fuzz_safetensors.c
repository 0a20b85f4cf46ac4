/* fuzz_safetensors.c — one .safetensors file: st_open; every accepted tensor inside the file,
 * sized by its shape, overlapping none; float tensors widen without reading past their bytes. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fz_write("x.safetensors", data, size);
    Safetensors st;
    QErr err;
    if (st_open(&st, p, &err) == 0) {
        fz_check_safetensors(&st);
        for (int i = 0; i < st.ntensors; i++) {
            const StTensor *t = &st.tensors[i];
            if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) continue;
            if (t->numel > (1 << 22)) continue;
            float *out = malloc((size_t)t->numel * sizeof(float) + 1);
            if (st_to_f32(t, out, &err)) fz_fail("st_to_f32 refused float tensor '%s'", t->name);
            free(out);
        }
        st_close(&st);
    } else if (!err.msg[0] || strchr(err.msg, '\n')) {
        fz_fail("error is not one line: '%s'", err.msg);
    }
    return 0;
}
