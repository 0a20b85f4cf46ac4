/* checked.c — the resource budget and the non-finite weight check (checked.h). */
#include "quant/checked.h"

#include <math.h>
#include <stdlib.h>

static int allow_nonfinite = -1; /* -1: not decided yet, read QUANT_ALLOW_NONFINITE once */

void q_allow_nonfinite(int allow) { allow_nonfinite = allow ? 1 : 0; }

static int nonfinite_allowed(void) {
    if (allow_nonfinite < 0) {
        const char *e = getenv("QUANT_ALLOW_NONFINITE");
        allow_nonfinite = e && *e && *e != '0';
    }
    return allow_nonfinite;
}

int q_budget(const char *path, const char *what, int64_t need, int64_t have, QErr *err) {
    if (need < 0)
        return qerr_set(err, "%s: %s: the size computed from the file's fields overflows", path, what);
    if (need > have)
        return qerr_set(err, "%s: %s needs %lld bytes but the file holds only %lld: refused before allocating", path,
                        what, (long long)need, (long long)have);
    return 0;
}

int q_check_finite(const float *x, int64_t n, const char *path, const char *name, QErr *err) {
    /* a branch-free reduction first: the common case (all finite) costs one pass */
    int ok = 1;
#pragma omp simd reduction(& : ok)
    for (int64_t i = 0; i < n; i++) ok &= isfinite(x[i]) != 0;
    if (ok || nonfinite_allowed()) return 0;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return qerr_set(err, "%s: tensor '%s' element %lld is %s (weights must be finite; "
                            "QUANT_ALLOW_NONFINITE=1 loads them for inspection)", path, name, (long long)i,
                            isnan(x[i]) ? "nan" : "inf");
    return 0;
}
