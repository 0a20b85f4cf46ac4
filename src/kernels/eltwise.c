/* eltwise.c — element-wise steps of a transformer block over the kernels' pool (kernels.h):
 * the SwiGLU product and the residual add.  At a 128-token prompt of a 1.1B model these ran
 * serially on the caller while the other core waited: 9% of the prompt (perf).  Each element
 * is computed by the same IEEE operations on every ISA and thread count (no contraction to
 * FMA: the AVX2 and AVX-512 clones give the baseline's bits), so results do not depend on either. */
#include "kernels_internal.h"
#include "quant/core.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* gcc keeps ISO C's no-contraction under -std=c11 */
#endif

enum { ELT_TILE = 16384 }; /* elements per pool tile: 64 KB a stream */

typedef struct Elt {
    size_t n;
    float *x;
    const float *y;
} Elt;

/* SwiGLU on x [n] (the gate's products, overwritten) and y [n] (the up's), and tile t of the
 * element-wise steps (inlined into each ISA's clone below). */
static inline __attribute__((always_inline)) void swiglu_span(float *x, const float *y, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float a = x[i];
        x[i] = a / (1.0f + q_expf(-a)) * y[i];
    }
}

static inline __attribute__((always_inline)) void swiglu_body(void *arg, int t) {
    const Elt *e = arg;
    size_t i0 = (size_t)t * ELT_TILE, i1 = i0 + ELT_TILE < e->n ? i0 + ELT_TILE : e->n;
    swiglu_span(e->x + i0, e->y + i0, i1 - i0);
}

static inline __attribute__((always_inline)) void add_body(void *arg, int t) {
    const Elt *e = arg;
    size_t i0 = (size_t)t * ELT_TILE, i1 = i0 + ELT_TILE < e->n ? i0 + ELT_TILE : e->n;
#pragma omp simd
    for (size_t i = i0; i < i1; i++) e->x[i] += e->y[i];
}

static void swiglu_tile(void *arg, int t) { swiglu_body(arg, t); }
__attribute__((target("avx512f"))) static void swiglu_tile_avx512(void *arg, int t) { swiglu_body(arg, t); }
__attribute__((target("avx2"))) static void swiglu_tile_avx2(void *arg, int t) { swiglu_body(arg, t); }
static void swiglu_span_base(float *x, const float *y, size_t n) { swiglu_span(x, y, n); }
__attribute__((target("avx512f"))) static void swiglu_span_avx512(float *x, const float *y, size_t n) { swiglu_span(x, y, n); }
__attribute__((target("avx2"))) static void swiglu_span_avx2(float *x, const float *y, size_t n) { swiglu_span(x, y, n); }
static void add_tile(void *arg, int t) { add_body(arg, t); }
__attribute__((target("avx512f"))) static void add_tile_avx512(void *arg, int t) { add_body(arg, t); }
__attribute__((target("avx2"))) static void add_tile_avx2(void *arg, int t) { add_body(arg, t); }

int kern_f32_level(void) {
    static _Atomic int v = -1;
    if (v < 0) {
        __builtin_cpu_init();
        const KernIsa isa = kern_isa_best();
        v = __builtin_cpu_supports("avx512f") && isa >= KERN_ISA_AVX512VNNI ? 2 : isa >= KERN_ISA_AVX2 ? 1 : 0;
    }
    return v;
}

static void run(size_t n, float *x, const float *y, KernTileFn base, KernTileFn mid, KernTileFn wide) {
    Elt e = {n, x, y};
    const int level = kern_f32_level();
    KernTileFn fn = level == 2 ? wide : level == 1 ? mid : base;
    kern_parallel_tiles((int)((n + ELT_TILE - 1) / ELT_TILE), fn, &e, n >= 4 * ELT_TILE);
}

void kern_swiglu_span(float *g, const float *u, size_t n) { /* kernels_internal.h */
    const int level = kern_f32_level();
    (level == 2 ? swiglu_span_avx512 : level == 1 ? swiglu_span_avx2 : swiglu_span_base)(g, u, n);
}

void kern_swiglu_f32(size_t n, float *g, const float *u) { run(n, g, u, swiglu_tile, swiglu_tile_avx2, swiglu_tile_avx512); }

void kern_add_f32(size_t n, float *x, const float *y) { run(n, x, y, add_tile, add_tile_avx2, add_tile_avx512); }
