/* calib.c — calibration windows (llm_ptq.h). */
#include <stdlib.h>
#include <string.h>

#include "quant/llm_ptq.h"

int llm_calib_sample(const int32_t *tokens, int64_t lo, int64_t hi, int n, int seq_len, int32_t bos, uint64_t seed,
                     LlmCalib *c, QErr *err) {
    memset(c, 0, sizeof *c);
    if (n < 1) return qerr_set(err, "calibration needs at least one sample, got %d", n);
    if (hi - lo < seq_len)
        return qerr_set(err, "the calibration text has %lld tokens, fewer than one window of %d", (long long)(hi - lo), seq_len);
    c->n = n;
    c->seq_len = seq_len;
    c->tokens = xmalloc((size_t)n * seq_len * sizeof(int32_t));
    QRng r;
    qrng_seed(&r, seed);
    uint64_t span = (uint64_t)(hi - lo - seq_len + 1);
    for (int i = 0; i < n; i++) {
        int64_t start = lo + (int64_t)(qrng_u64(&r) % span);
        memcpy(c->tokens + (size_t)i * seq_len, tokens + start, (size_t)seq_len * sizeof(int32_t));
        if (bos >= 0) c->tokens[(size_t)i * seq_len] = bos;
    }
    return 0;
}

void llm_calib_free(LlmCalib *c) {
    free(c->tokens);
    memset(c, 0, sizeof *c);
}
