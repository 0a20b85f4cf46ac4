/* qgemm.c — int8 quantized linear: ISA choice, weight packing, the scalar reference,
 * and fixed-point requantization (kernels.h). */
#include <cpuid.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"
#include "quant/core.h"

/* The best ISA at most cap that this CPU runs. */
static KernIsa isa_cpu(KernIsa cap) {
    __builtin_cpu_init();
    if (cap >= KERN_ISA_AVX512VNNI && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return KERN_ISA_AVX512VNNI;
    if (cap >= KERN_ISA_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return KERN_ISA_AVX2;
    return KERN_ISA_SCALAR;
}

KernIsa kern_isa_best(void) {
    /* QUANT_ISA=scalar|avx2|avx512vnni caps the choice (tests, benchmarks) */
    const char *env = getenv("QUANT_ISA");
    KernIsa cap = KERN_ISA_AVX512VNNI;
    if (env && strcmp(env, "scalar") == 0) cap = KERN_ISA_SCALAR;
    if (env && strcmp(env, "avx2") == 0) cap = KERN_ISA_AVX2;
    return isa_cpu(cap);
}

int kern_cpu_amx_int8(void) {
    /* CPUID leaf 7: EDX bit 24 AMX-TILE, bit 25 AMX-INT8 (no compiler names them portably) */
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (d >> 24 & 1) && (d >> 25 & 1);
}

const char *kern_isa_name(KernIsa isa) {
    switch (isa) {
        case KERN_ISA_AVX2: return "avx2";
        case KERN_ISA_AVX512VNNI: return "avx512vnni";
        default: return "scalar";
    }
}

KernS8Weights *kern_s8_weights_pack(const int8_t *W, int N, int K, KernIsa isa) {
    KernS8Weights *w = xcalloc(1, sizeof *w);
    w->isa = isa_cpu(isa); /* never an ISA the CPU lacks (e.g. a request from a config) */
    w->N = N;
    w->K = K;
    w->rowsum = xmalloc((size_t)N * sizeof(int32_t));
    for (int n = 0; n < N; n++) {
        int32_t s = 0;
        for (int k = 0; k < K; k++) s += W[(size_t)n * K + k];
        w->rowsum[n] = s;
    }
    switch (isa) {
        case KERN_ISA_AVX2: kern_pack_avx2(w, W); break;
        case KERN_ISA_AVX512VNNI: kern_pack_avx512(w, W); break;
        default:
            w->Np = N;
            w->Kp = K;
            w->data = xmalloc((size_t)N * K);
            memcpy(w->data, W, (size_t)N * K);
    }
    return w;
}

void kern_s8_weights_free(KernS8Weights *w) {
    if (!w) return;
    free(w->data);
    free(w->rowsum);
    free(w);
}

void kern_acc_scalar(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W, const int32_t *bias,
                     int32_t *acc) {
    const int N = W->N, K = W->K;
    const int8_t *w = W->data;
#pragma omp parallel for schedule(static) if ((int64_t)M * N * K > (1 << 22))
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            int32_t s = 0;
            const int8_t *x = X + (size_t)m * K, *wr = w + (size_t)n * K;
            for (int k = 0; k < K; k++) s += (int32_t)x[k] * wr[k];
            acc[(size_t)m * N + n] = s - zero_x * W->rowsum[n] + (bias ? bias[n] : 0);
        }
}

void kern_quantize_multiplier(double m, int32_t *mult, int32_t *shift) {
    if (!(m > 0.0)) {
        *mult = 0;
        *shift = 0;
        return;
    }
    int e;
    double f = frexp(m, &e); /* m = f * 2^e, f in [0.5, 1) */
    int64_t q = llround(f * (double)(1LL << 31));
    if (q == (1LL << 31)) {
        q /= 2;
        e++;
    }
    *mult = (int32_t)q;  /* in [2^30, 2^31) */
    *shift = -e;         /* m = mult * 2^-31 * 2^-shift */
}

int32_t kern_requant_one(int32_t acc, int32_t mult, int32_t shift, int32_t zero_y, int32_t lo, int32_t hi) {
    /* y = round_half_away(acc * mult / 2^(31 + shift)), in 64-bit (exact product) */
    int64_t prod = (int64_t)acc * mult;
    int s = 31 + shift;
    int64_t r;
    if (s <= 0) {
        r = prod << -s;
    } else if (s >= 63) {
        r = 0;
    } else {
        int64_t half = (int64_t)1 << (s - 1);
        r = prod >= 0 ? (prod + half) >> s : -((-prod + half) >> s);
    }
    r += zero_y;
    if (r < lo) r = lo;
    if (r > hi) r = hi;
    return (int32_t)r;
}

void kern_qlinear_s8_acc(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W, const int32_t *bias,
                         int32_t *acc) {
    switch (W->isa) {
        case KERN_ISA_AVX2: kern_acc_avx2(M, X, zero_x, W, bias, acc); break;
        case KERN_ISA_AVX512VNNI: kern_qlinear_avx512(M, X, zero_x, W, bias, NULL, NULL, acc); break;
        default: kern_acc_scalar(M, X, zero_x, W, bias, acc);
    }
}

void kern_qlinear_s8(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W, const int32_t *bias,
                     const KernRequant *rq, int8_t *Y) {
    const int N = W->N;
    if (W->isa == KERN_ISA_AVX512VNNI) {
        /* the fused SIMD epilogue handles total shifts 1..62 (every real multiplier in
         * [2^-31, 2^30)); anything else takes the shared scalar epilogue below */
        int fused = 1;
        for (int n = 0; n < N; n++) fused &= rq->shift[n] >= -30 && rq->shift[n] <= 31;
        if (fused) {
            kern_qlinear_avx512(M, X, zero_x, W, bias, rq, Y, NULL);
            return;
        }
    }
    int32_t stackbuf[4096];
    int32_t *acc = (size_t)M * N <= 4096 ? stackbuf : xmalloc((size_t)M * N * sizeof(int32_t));
    kern_qlinear_s8_acc(M, X, zero_x, W, bias, acc);
    /* The scalar epilogue (AVX-512's fused one does the same arithmetic lane by lane). */
    for (int m = 0; m < M; m++) {
        const int32_t *a = acc + (size_t)m * N;
        int8_t *y = Y + (size_t)m * N;
        for (int n = 0; n < N; n++) y[n] = (int8_t)kern_requant_one(a[n], rq->mult[n], rq->shift[n], rq->zero_y, rq->lo, rq->hi);
    }
    if (acc != stackbuf) free(acc);
}
