/* qgemm_avx512.c — int8 linear with AVX-512 VNNI (vpdpbusd: u8 x s8 -> s32).
 * X is shifted to unsigned (x + 128, i.e. x ^ 0x80), which adds 128 * rowsum(W) to every
 * dot product; that and the activation zero-point are removed exactly afterwards.
 *
 * Register blocking: a micro-kernel keeps R <= 4 rows of X by C <= 4 blocks of 16 output
 * channels (up to 16 zmm accumulators), so each weight vector loaded feeds R vpdpbusd and
 * each broadcast of 4 x-bytes feeds C; 16 independent chains hide vpdpbusd's latency.
 * The requantization to int8 is fused into the micro-kernel's epilogue and does exactly
 * what kern_requant_one does (64-bit product, round half away from zero, clamp). */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"
#include "quant/core.h"

void kern_pack_avx512(KernS8Weights *w, const int8_t *W) {
    w->Np = (w->N + 15) / 16 * 16;
    w->Kp = (w->K + 3) / 4 * 4;
    int8_t *p = xcalloc((size_t)w->Np * w->Kp, 1);
    for (int n = 0; n < w->N; n++)
        for (int k = 0; k < w->K; k++) {
            size_t off = ((size_t)(n / 16) * (w->Kp / 4) + k / 4) * 64 + (n % 16) * 4 + (k % 4);
            p[off] = W[(size_t)n * w->K + k];
        }
    w->data = p;
}

/* Per-call constants for the epilogue, padded to Np (pads are harmless: never stored). */
typedef struct Epi {
    const int32_t *off;   /* [Np] bias[n] - (128 + zero_x) * rowsum[n] */
    const int32_t *mult;  /* [Np] requant multiplier (NULL: write int32 acc instead) */
    const int32_t *rs;    /* [Np] total right shift 31 + shift[n], all in [1, 62] */
    int32_t zero_y, lo, hi;
    int N;
    int8_t *Y;            /* [M, N] int8 out, or */
    int32_t *acc;         /* [M, N] int32 out */
} Epi;

/* round_half_away(p / 2^s) + zero_y, clamped — on 8 signed 64-bit products */
static inline __m512i requant_q(__m512i p, __m512i s, __m512i zy, __m512i lo, __m512i hi) {
    const __m512i one = _mm512_set1_epi64(1);
    __m512i half = _mm512_sllv_epi64(one, _mm512_sub_epi64(s, one));
    __m512i q = _mm512_srlv_epi64(_mm512_add_epi64(_mm512_abs_epi64(p), half), s);
    q = _mm512_mask_sub_epi64(q, _mm512_cmplt_epi64_mask(p, _mm512_setzero_si512()), _mm512_setzero_si512(), q);
    q = _mm512_add_epi64(q, zy);
    return _mm512_min_epi64(_mm512_max_epi64(q, lo), hi);
}

/* Finishes 16 accumulators of row m, channels n0..n0+15. */
static inline void epilogue16(const Epi *e, int m, int n0, __m512i a) {
    a = _mm512_add_epi32(a, _mm512_loadu_si512((const void *)(e->off + n0)));
    int rem = e->N - n0;
    __mmask16 k = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1);
    if (!e->mult) {
        _mm512_mask_storeu_epi32(e->acc + (size_t)m * e->N + n0, k, a);
        return;
    }
    const __m512i lo32 = _mm512_set1_epi64(0xFFFFFFFF);
    __m512i mu = _mm512_loadu_si512((const void *)(e->mult + n0));
    __m512i s = _mm512_loadu_si512((const void *)(e->rs + n0));
    __m512i zy = _mm512_set1_epi64(e->zero_y), lo = _mm512_set1_epi64(e->lo), hi = _mm512_set1_epi64(e->hi);
    /* even lanes in the low dwords of the qwords, odd lanes shifted down into them */
    __m512i pe = _mm512_mul_epi32(a, mu);
    __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(mu, 32));
    __m512i qe = requant_q(pe, _mm512_and_si512(s, lo32), zy, lo, hi);
    __m512i qo = requant_q(po, _mm512_srli_epi64(s, 32), zy, lo, hi);
    __m512i y = _mm512_mask_blend_epi32((__mmask16)0xAAAA, qe, _mm512_slli_epi64(qo, 32));
    _mm512_mask_cvtepi32_storeu_epi8(e->Y + (size_t)m * e->N + n0, k, y);
}

/* R rows (xu, stride Kp bytes) x C blocks of 16 channels starting at block nb0.  Written
 * out with named registers and constant-folded conditions (R, C are constants after
 * inlining) so that every compiler keeps the 16 accumulators in registers. */
#define ACC_ROW(r) __m512i a##r##0 = z, a##r##1 = z, a##r##2 = z, a##r##3 = z
#define DP_ROW(r)                                                                          \
    if (R > r) {                                                                           \
        int32_t x4;                                                                        \
        memcpy(&x4, xu + (size_t)(r) * Kp + (size_t)k4 * 4, 4);                            \
        __m512i xb = _mm512_set1_epi32(x4);                                                \
        a##r##0 = _mm512_dpbusd_epi32(a##r##0, xb, w0);                                    \
        if (C > 1) a##r##1 = _mm512_dpbusd_epi32(a##r##1, xb, w1);                         \
        if (C > 2) a##r##2 = _mm512_dpbusd_epi32(a##r##2, xb, w2);                         \
        if (C > 3) a##r##3 = _mm512_dpbusd_epi32(a##r##3, xb, w3);                         \
    }
#define EPI_ROW(r)                                                                         \
    if (R > r) {                                                                           \
        epilogue16(e, m0 + r, nb0 * 16, a##r##0);                                          \
        if (C > 1) epilogue16(e, m0 + r, nb0 * 16 + 16, a##r##1);                          \
        if (C > 2) epilogue16(e, m0 + r, nb0 * 16 + 32, a##r##2);                          \
        if (C > 3) epilogue16(e, m0 + r, nb0 * 16 + 48, a##r##3);                          \
    }
static inline __attribute__((always_inline)) void micro(const int R, const int C, const uint8_t *xu, int Kp,
                                                         const int8_t *wp, int K4, int m0, int nb0, const Epi *e) {
    const __m512i z = _mm512_setzero_si512();
    ACC_ROW(0);
    ACC_ROW(1);
    ACC_ROW(2);
    ACC_ROW(3);
    const size_t bs = (size_t)K4 * 64; /* bytes per block of 16 channels */
    const int8_t *wb = wp + (size_t)nb0 * bs;
    for (int k4 = 0; k4 < K4; k4++) {
        const int8_t *wk = wb + (size_t)k4 * 64;
        __m512i w0 = _mm512_loadu_si512((const void *)wk), w1 = z, w2 = z, w3 = z;
        if (C > 1) w1 = _mm512_loadu_si512((const void *)(wk + bs));
        if (C > 2) w2 = _mm512_loadu_si512((const void *)(wk + 2 * bs));
        if (C > 3) w3 = _mm512_loadu_si512((const void *)(wk + 3 * bs));
        DP_ROW(0)
        DP_ROW(1)
        DP_ROW(2)
        DP_ROW(3)
    }
    EPI_ROW(0)
    EPI_ROW(1)
    EPI_ROW(2)
    EPI_ROW(3)
}

#define MICRO_CASE(R_, C_) \
    case (R_) * 8 + (C_): micro((R_), (C_), xu, Kp, wp, K4, m0, nb0, e); break;

static void micro_any(int R, int C, const uint8_t *xu, int Kp, const int8_t *wp, int K4, int m0, int nb0,
                      const Epi *e) {
    switch (R * 8 + C) {
        MICRO_CASE(1, 1) MICRO_CASE(1, 2) MICRO_CASE(1, 3) MICRO_CASE(1, 4)
        MICRO_CASE(2, 1) MICRO_CASE(2, 2) MICRO_CASE(2, 3) MICRO_CASE(2, 4)
        MICRO_CASE(3, 1) MICRO_CASE(3, 2) MICRO_CASE(3, 3) MICRO_CASE(3, 4)
        MICRO_CASE(4, 1) MICRO_CASE(4, 2) MICRO_CASE(4, 3) MICRO_CASE(4, 4)
        default: break;
    }
}

/* One tile = up to 4 rows x 4 blocks of 16 channels; tiles of one channel group are
 * consecutive, so the threads share that group's weights while they are in cache. */
typedef struct Job {
    const uint8_t *xu;
    int Kp;
    const int8_t *wp;
    int K4, M, NB, MB;
    const Epi *e;
} Job;

static void tile(void *arg, int t) {
    const Job *j = arg;
    int g = t / j->MB, mb = t % j->MB;
    int m0 = mb * 4, R = j->M - m0 < 4 ? j->M - m0 : 4;
    int nb0 = g * 4, C = j->NB - nb0 < 4 ? j->NB - nb0 : 4;
    micro_any(R, C, j->xu + (size_t)m0 * j->Kp, j->Kp, j->wp, j->K4, m0, nb0, j->e);
}

void kern_qlinear_avx512(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W, const int32_t *bias,
                         const KernRequant *rq, int8_t *Y, int32_t *acc) {
    const int N = W->N, K = W->K, Kp = W->Kp, Np = W->Np, K4 = Kp / 4, NB = Np / 16;
    const int8_t *wp = W->data;
    /* unsigned copy of X (x ^ 0x80 == x + 128), zero-padded to Kp (pads meet zero weights) */
    uint8_t xbuf[8192];
    uint8_t *xu = (size_t)M * Kp <= sizeof xbuf ? xbuf : xmalloc((size_t)M * Kp);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int m = 0; m < M; m++) {
        const int8_t *xr = X + (size_t)m * K;
        uint8_t *ur = xu + (size_t)m * Kp;
        for (int k = 0; k < K; k += 64) {
            int rem = K - k;
            __mmask64 mk = rem >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << rem) - 1);
            __m512i v = _mm512_maskz_loadu_epi8(mk, xr + k);
            _mm512_mask_storeu_epi8(ur + k, mk, _mm512_xor_si512(v, flip));
        }
        for (int k = K; k < Kp; k++) ur[k] = 0;
    }
    /* per-channel epilogue constants, padded to Np */
    int32_t cbuf[3 * 1024];
    int32_t *cst = 3 * (size_t)Np <= sizeof cbuf / sizeof cbuf[0] ? cbuf : xmalloc(3 * (size_t)Np * sizeof(int32_t));
    int32_t *off = cst, *mult = cst + Np, *rs = cst + 2 * Np;
    for (int n = 0; n < Np; n++) {
        int in = n < N;
        off[n] = in ? (int32_t)((uint32_t)(bias ? bias[n] : 0) - (uint32_t)(128 + zero_x) * (uint32_t)W->rowsum[n]) : 0;
        mult[n] = in && rq ? rq->mult[n] : 0;
        rs[n] = in && rq ? 31 + rq->shift[n] : 31;
    }
    Epi e = {off, rq ? mult : NULL, rs, rq ? rq->zero_y : 0, rq ? rq->lo : 0, rq ? rq->hi : 0, N, Y, acc};

    Job job = {xu, Kp, wp, K4, M, NB, (M + 3) / 4, &e};
    kern_parallel_tiles(job.MB * ((NB + 3) / 4), tile, &job, (int64_t)M * N * K > (1 << 22));
    if (cst != cbuf) free(cst);
    if (xu != xbuf) free(xu);
}
