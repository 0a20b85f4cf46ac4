/* fuzz_config.c — config.json: llm_config_from_json; an accepted config has dimensions a
 * loader can use (positive, within the documented ranges, heads dividing dim). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fz_write("config.json", data, size);
    LlmConfig c;
    QErr err;
    if (llm_config_from_json(&c, p, &err) == 0) {
        if (c.dim < 1 || c.dim > 65536 || c.n_heads < 1 || c.n_kv_heads < 1 || c.dim % c.n_heads ||
            c.n_heads % c.n_kv_heads || c.n_layers < 1 || c.n_layers > 1024 || c.vocab_size < 1 ||
            c.vocab_size > 1 << 22 || c.hidden_dim < 1 || c.hidden_dim > 1 << 20 || c.max_seq < 1 || c.max_seq > 1 << 20)
            fz_fail("accepted config with dims %d/%d/%d/%d/%d/%d/%d", c.dim, c.n_heads, c.n_kv_heads, c.n_layers,
                    c.vocab_size, c.hidden_dim, c.max_seq);
    }
    return 0;
}
