/* checked.h — arithmetic on sizes that come from files, and the checks every reader applies
 * before it allocates or reads: overflow-checked products and sums, a resource budget (what a
 * file may ask for is bounded by what its bytes can justify), and the non-finite weight check.
 *
 * Sizes read from a file are hostile: a product of dimensions computed in size_t wraps around
 * silently, in int it is undefined behaviour.  Readers compute every such size with these
 * helpers (they return -1 on overflow, the caller turns that into one error line naming the
 * file and the field), then compare the result with the file's real length. */
#ifndef QUANT_CHECKED_H
#define QUANT_CHECKED_H

#include <stddef.h>
#include <stdint.h>

#include "quant/core.h"

/* *out = a * b or a + b; 0 ok, -1 on overflow (or a negative operand for the int64 forms,
 * since every size is non-negative); *out is left unspecified on failure. */
static inline int q_mul_i64(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return -1;
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int q_add_i64(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return -1;
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}
static inline int q_mul_size(size_t a, size_t b, size_t *out) { return __builtin_mul_overflow(a, b, out) ? -1 : 0; }
static inline int q_add_size(size_t a, size_t b, size_t *out) { return __builtin_add_overflow(a, b, out) ? -1 : 0; }

/* Accumulating form: an expression of several products and sums evaluates into a QSize whose
 * `bad` flag sticks once any step overflowed, so a long size formula reads as a formula:
 *   QSize n = qs_mul(qs(V), qs(D));  n = qs_add(n, qs_mul3(L, D, D));  if (n.bad) ... */
typedef struct QSize {
    int64_t v;
    int bad;
} QSize;
static inline QSize qs(int64_t v) { return (QSize){v, v < 0}; }
static inline QSize qs_mul(QSize a, QSize b) {
    QSize r = {0, a.bad || b.bad};
    if (!r.bad) r.bad = q_mul_i64(a.v, b.v, &r.v) != 0;
    return r;
}
static inline QSize qs_add(QSize a, QSize b) {
    QSize r = {0, a.bad || b.bad};
    if (!r.bad) r.bad = q_add_i64(a.v, b.v, &r.v) != 0;
    return r;
}
static inline QSize qs_mul3(int64_t a, int64_t b, int64_t c) { return qs_mul(qs_mul(qs(a), qs(b)), qs(c)); }

/* Resource budget: refuse (one error line, -1) when `need` bytes for `what` exceed what the
 * file can justify, `have` bytes; need < 0 means the size overflowed.  Checked before the
 * allocation, so a kilobyte file cannot make quant abort on a multi-gigabyte malloc. */
int q_budget(const char *path, const char *what, int64_t need, int64_t have, QErr *err);

/* Non-finite weights: 0 when x[0..n) are all finite, else -1 with
 * "<path>: tensor '<name>' element <i> is <nan|inf> (weights must be finite; ...)".
 * q_allow_nonfinite(1) (the CLI's --allow-nonfinite, or QUANT_ALLOW_NONFINITE=1 in the
 * environment) lets them through for inspection. */
int  q_check_finite(const float *x, int64_t n, const char *path, const char *name, QErr *err);
void q_allow_nonfinite(int allow);

#endif
