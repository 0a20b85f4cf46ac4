/* fuzz_parquet.c — libFuzzer target for the parquet reader (src/llm/io/parquet.c) and the
 * dataset join (src/llm/dataset.c): the bytes are one parquet file, read for its 'text'
 * column, which must either be rejected with an error or give rows that satisfy the reader's
 * contract (offsets from 0, non-decreasing, inside the data, NUL after the last byte, null flags
 * counted, everything within the budget); an accepted column is then joined both ways and the
 * joined length checked against the rows. */
#include "fuzz_common.h"
#include "quant/dataset.h"
#include "quant/parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    PqLimits lim = {16 << 20};
    PqStrings s;
    QErr err;
    if (parquet_read_strings_mem(data, size, "fuzz.parquet", "text", &lim, &s, &err)) {
        if (!err.msg[0]) fz_fail("rejected without a message");
        return 0;
    }
    if (s.n < 0 || !s.off || !s.data || s.off[0] != 0) fz_fail("accepted column without rows/offsets");
    int64_t nulls = 0, nonempty = 0;
    for (int64_t i = 0; i < s.n; i++) {
        if (s.off[i + 1] < s.off[i]) fz_fail("offsets decrease at row %lld", (long long)i);
        if (s.null && s.null[i]) {
            nulls++;
            if (s.off[i + 1] != s.off[i]) fz_fail("null row %lld with bytes", (long long)i);
        }
        nonempty += s.off[i + 1] > s.off[i];
    }
    if (nulls != s.n_null) fz_fail("%lld null rows flagged, %lld counted", (long long)nulls, (long long)s.n_null);
    if (s.off[s.n] + 8 * s.n > lim.max_bytes) fz_fail("%lld bytes, past the budget", (long long)s.off[s.n]);
    if (s.data[s.off[s.n]] != 0) fz_fail("no NUL after the data");
    if (!s.null) {
        uint8_t *t;
        size_t len;
        if (dataset_join_rows(s.data, s.off, NULL, s.n, DATASET_JOIN_GUIDE, "fuzz", &t, &len, &err) == 0) {
            size_t want = (size_t)s.off[s.n] + (s.n > 0 ? 2 * (size_t)(s.n - 1) : 0);
            if (len != want) fz_fail("guide join: %zu bytes, expected %zu", len, want);
            free(t);
        }
        if (dataset_join_rows(s.data, s.off, NULL, s.n, DATASET_JOIN_RAW, "fuzz", &t, &len, &err) == 0) {
            size_t want = (size_t)s.off[s.n] + 2 * (size_t)(s.n - nonempty);
            if (len != want) fz_fail("raw join: %zu bytes, expected %zu", len, want);
            free(t);
        }
    }
    parquet_strings_free(&s);
    return 0;
}
