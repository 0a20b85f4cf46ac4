/* test_qmat.c — the packed-block formats (qblock.h) and the group-quantized linear kernels
 * (kernels.h: kern_qact_*, kern_qmat_*): every block type round-trips its codes; the scalar
 * kernel equals an independent double-precision sum over the codes; every ISA this machine
 * runs (AVX2 forced too) equals the scalar kernel on random shapes (ragged rows, odd row
 * counts, 1 and many tokens, symmetric and affine); 1 and 2 threads agree bit for bit. */
#include <omp.h>

#include "quant/core.h"
#include "kernels/kernels_internal.h"
#include "quant/qblock.h"
#include "test.h"

static const int qmin_of[4] = {-128, -8, -4, -2}, qmax_of[4] = {127, 7, 3, 1};

/* A random packed matrix: codes c[N, nb * 32] (padding 0), f16 scales, optional zeros. */
typedef struct Mat {
    KernQMat m;
    int8_t *c;
    uint16_t *d;
    int8_t *z;
    void *blocks;
    uint8_t *sb;             /* the sb16 layout of blocks (mat_sb16), or NULL */
} Mat;

static void mat_make(Mat *a, KernQType type, int N, int K, int affine, QRng *r) {
    int nb = (int)qblock_count(K);
    size_t bs = kern_qtype_block_bytes(type);
    a->c = xcalloc((size_t)N * nb * QK, 1);
    a->d = xmalloc((size_t)N * nb * 2);
    a->z = affine ? xmalloc((size_t)N * nb) : NULL;
    a->blocks = xmalloc((size_t)N * nb * bs);
    a->sb = NULL;
    int lo = qmin_of[type], span = qmax_of[type] - lo + 1;
    for (int n = 0; n < N; n++)
        for (int b = 0; b < nb; b++) {
            size_t k = (size_t)n * nb + b;
            int cnt = K - b * QK < QK ? K - b * QK : QK;
            for (int j = 0; j < cnt; j++) a->c[k * QK + j] = (int8_t)(lo + (int)qrng_below(r, (uint32_t)span));
            a->d[k] = qf32_to_f16((qrng_uniform(r) - 0.3f) * 0.02f);
            if (a->z) a->z[k] = (int8_t)(lo + (int)qrng_below(r, (uint32_t)span));
            uint8_t *p = (uint8_t *)a->blocks + k * bs;
            switch (type) {
                case KERN_Q8_0: qblock_q8_0_pack(a->c + k * QK, cnt, a->d[k], (QBlockQ8_0 *)p); break;
                case KERN_Q4_0: qblock_q4_0_pack(a->c + k * QK, cnt, a->d[k], (QBlockQ4_0 *)p); break;
                case KERN_Q3: qblock_q3_pack(a->c + k * QK, cnt, a->d[k], (QBlockQ3 *)p); break;
                default: qblock_q2_pack(a->c + k * QK, cnt, a->d[k], (QBlockQ2 *)p); break;
            }
        }
    a->m = (KernQMat){type, N, K, nb, a->blocks, a->z, 0};
}

/* a's matrix in the sb16 layout (kernels.h) from here on, when its type and width allow it. */
static int mat_sb16(Mat *a) {
    if (a->m.nb < 16) return 0;
    KernQMat m = a->m;
    m.sb16 = 1;
    size_t rb = kern_qmat_row_bytes(&m), bs = kern_qtype_block_bytes(m.type);
    a->sb = xmalloc64((size_t)m.N * rb);
    for (int n = 0; n < m.N; n++) kern_qmat_sb16_row(m.type, m.nb, (const uint8_t *)a->blocks + (size_t)n * m.nb * bs, a->sb + (size_t)n * rb);
    m.blocks = a->sb;
    a->m = m;
    return 1;
}

/* 1 when block b of row n, read through kern_qmat_block_codes, differs from a's codes or scale. */
static int block_differs(const Mat *a, int n, int b) {
    int8_t c[QK];
    float d;
    kern_qmat_block_codes(&a->m, n, b, c, &d);
    size_t k = (size_t)n * a->m.nb + b;
    return memcmp(c, a->c + k * QK, QK) != 0 || d != qf16_to_f32(a->d[k]);
}

static void mat_free(Mat *a) {
    free(a->sb);
    free(a->c);
    free(a->d);
    free(a->z);
    free(a->blocks);
}

TEST(blocks_roundtrip) {
    QRng r;
    qrng_seed(&r, 1);
    for (int type = 0; type < 4; type++)
        for (int K = 1; K <= 100; K += 33) {
            Mat a;
            mat_make(&a, (KernQType)type, 3, K, 0, &r);
            for (int n = 0; n < 3; n++)
                for (int b = 0; b < a.m.nb; b++) CHECK(!block_differs(&a, n, b)); /* codes, padding 0 included */
            mat_free(&a);
        }
    /* the sb16 layout: every block's codes and scale read back; the bytes where kernels.h puts
     * them (superblock s's codes, then after each pair of superblocks (or a last lone one)
     * their scales; lane i of vector v = block i's code bytes 4 sigma(v) .., or for Q3 / Q2 its
     * codes in bit planes (kernels.h); then the tail's GGUF blocks as they were) */
    /* nb 10 (none), 16 (ragged last block), 25 (a tail of 9), 48 (a lone third superblock), 54 (3 + 6) */
    static const int sbK[] = {300, 500, 800, 1536, 1700};
    for (int type = 0; type < 4; type++)
        for (int ki = 0; ki < 5; ki++) {
            const int K = sbK[ki];
            Mat a;
            mat_make(&a, (KernQType)type, 3, K, 0, &r);
            int sb = mat_sb16(&a);
            CHECK(sb == (a.m.nb >= 16));
            if (!sb) {
                mat_free(&a);
                continue;
            }
            static const size_t Cs[4] = {512, 256, 192, 128}; /* code bytes a superblock: 8, 4, 3, 2 vectors */
            const size_t C = Cs[type], rb = kern_qmat_row_bytes(&a.m), ns = (size_t)a.m.nb / 16;
            const size_t bs = kern_qtype_block_bytes((KernQType)type), head = ns / 2 * (2 * C + 64) + ns % 2 * (C + 64);
            CHECK(rb == (head + (size_t)(a.m.nb % 16) * bs + 63) / 64 * 64 && rb % 64 == 0 && ((uintptr_t)a.m.blocks & 63) == 0);
            int bad = 0;
            for (int n = 0; n < 3; n++)
                for (int b = 0; b < a.m.nb; b++) {
                    size_t k = (size_t)n * a.m.nb + b;
                    bad += block_differs(&a, n, b);
                    const uint8_t *row = a.sb + (size_t)n * rb;
                    if ((size_t)b >= ns * 16) { /* the tail: the GGUF block's bytes */
                        bad += memcmp(row + head + (b - ns * 16) * bs, (const uint8_t *)a.blocks + k * bs, bs) != 0;
                        continue;
                    }
                    size_t s = (size_t)b / 16, pair = s / 2 * (2 * C + 64), codes = pair + s % 2 * C;
                    size_t scales = pair + (s / 2 * 2 + 1 < ns ? 2 : 1) * C + 32 * (s % 2);
                    uint16_t h;
                    memcpy(&h, row + scales + 2 * (b % 16), 2);
                    bad += h != a.d[k];
                    if (type >= KERN_Q3) { /* Q3 / Q2: u = c + 4 / c + 2 in two 2-bit planes and (Q3) a 1-bit one */
                        const int o = type == KERN_Q3 ? 4 : 2;
                        static const int sig[8] = {0, 4, 1, 5, 2, 6, 3, 7}; /* sigma(v) written out */
                        for (int j = 0; j < 4; j++) {
                            for (int V = 0; V < 2; V++)
                                for (int m = 0; m < 4; m++) {
                                    int e = 4 * sig[4 * V + m] + j;
                                    bad += ((row[codes + 64 * V + 4 * (b % 16) + j] >> (2 * m)) & 3) != ((a.c[k * QK + e] + o) & 3);
                                }
                            for (int w = 0; type == KERN_Q3 && w < 8; w++) {
                                int e = 4 * sig[w] + j;
                                bad += ((row[codes + 128 + 4 * (b % 16) + j] >> w) & 1) != (a.c[k * QK + e] + o) >> 2;
                            }
                        }
                        continue;
                    }
                    for (int v = 0; v < (type == KERN_Q4_0 ? 4 : 8); v++)
                        for (int j = 0; j < 4; j++) {
                            uint8_t got = row[codes + 64 * v + 4 * (b % 16) + j];
                            int e = type == KERN_Q4_0 ? 4 * v + j : 4 * (v % 2 ? 4 + v / 2 : v / 2) + j; /* code index */
                            uint8_t want = type == KERN_Q4_0 ? (uint8_t)((a.c[k * QK + e] + 8) | (a.c[k * QK + e + 16] + 8) << 4)
                                                             : (uint8_t)(a.c[k * QK + e] + 128);
                            bad += got != want;
                        }
                }
            CHECK_MSG(bad == 0, "sb16 type %d K %d: %d mismatches", type, K, bad);
            mat_free(&a);
        }
    /* Q4_0 byte layout of GGUF: low nibble element j, high nibble j + 16, stored u = q + 8 */
    int8_t c[QK];
    for (int j = 0; j < QK; j++) c[j] = (int8_t)((j % 16) - 8);
    c[16] = 7;
    QBlockQ4_0 b4;
    qblock_q4_0_pack(c, QK, 0x3c00, &b4);
    CHECK(b4.d == 0x3c00 && b4.qs[0] == (0 | (15 << 4)) && b4.qs[1] == (1 | (1 << 4)));
}

TEST(dequant_matches_codes) {
    QRng r;
    qrng_seed(&r, 2);
    for (int type = 0; type < 4; type++) {
        Mat a;
        int N = 5, K = 172;
        mat_make(&a, (KernQType)type, N, K, type & 1, &r);
        float *w = xmalloc((size_t)N * K * 4);
        kern_qmat_dequant(&a.m, w);
        int bad = 0;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) {
                size_t blk = (size_t)n * a.m.nb + k / QK;
                float want = qf16_to_f32(a.d[blk]) * (float)(a.c[blk * QK + k % QK] - (a.z ? a.z[blk] : 0));
                bad += w[(size_t)n * K + k] != want;
            }
        CHECK_MSG(bad == 0, "type %d: %d values differ", type, bad);
        free(w);
        mat_free(&a);
    }
}

TEST(act_quantize) {
    QRng r;
    qrng_seed(&r, 3);
    int T = 3, K = 77;
    float *x = xmalloc((size_t)T * K * 4);
    for (int i = 0; i < T * K; i++) x[i] = qrng_normal(&r) * 3;
    x[5] = 0; /* exercise an exact zero */
    for (int i = 2 * K; i < 2 * K + 32; i++) x[i] = 0; /* an all-zero block: d = 0, codes 0 */
    KernQAct a;
    kern_qact_init(&a, 4, 100);
    kern_qact_quantize(&a, x, T, K);
    CHECK(a.nb == 3);
    int bad = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < 3; b++) {
            const int8_t *q = a.q + ((size_t)t * 3 + b) * QK;
            float d = a.d[t * 3 + b], amax = 0;
            int32_t s = 0;
            for (int j = 0; j < QK; j++) {
                int k = b * QK + j;
                if (k < K) amax = fmaxf(amax, fabsf(x[t * K + k]));
                s += q[j];
                if (k >= K) bad += q[j] != 0;
                else bad += fabsf(x[t * K + k] - d * q[j]) > 0.5001f * d + 1e-7f || q[j] < -127;
            }
            bad += fabsf(d - amax / 127) > 1e-7f * amax || s != a.s[t * 3 + b];
            for (int i = 0; i < 8; i++) bad += a.l[(t * 3 + b) * 8 + i] != q[4 * i] + q[4 * i + 1] + q[4 * i + 2] + q[4 * i + 3];
        }
    CHECK_MSG(bad == 0, "%d mismatches", bad);
    kern_qact_free(&a);
    free(x);
}

/* Two activation buffers hold the same bytes for T tokens of K (decode orders where isa fills
 * them: the scalar and AVX-512 quantizers, at most KERN_QACT_DOT_T tokens). */
static int qact_same(const KernQAct *a, const KernQAct *b, int T, KernIsa isa) {
    const size_t nbt = (size_t)T * a->nb;
    const size_t nbd = (size_t)(T <= KERN_QACT_DOT_T && isa != KERN_ISA_AVX2 ? T : 0) * a->nb;
    int same = a->T == b->T && a->K == b->K && a->nb == b->nb && memcmp(a->q, b->q, nbt * QK) == 0 &&
               memcmp(a->d, b->d, nbt * 4) == 0 && memcmp(a->s, b->s, nbt * 4) == 0 && memcmp(a->l, b->l, nbt * 32) == 0 &&
               memcmp(a->qp, b->qp, nbd * QK) == 0 && memcmp(a->c4, b->c4, nbd * 16) == 0 && memcmp(a->c8, b->c8, nbd * 32) == 0 &&
               memcmp(a->d4, b->d4, nbd * 16) == 0;
    for (int t = 0; t < T; t++)
        same &= memcmp(a->q16 + (size_t)t * a->nb * QK, b->q16 + (size_t)t * a->nb * QK, (size_t)(a->nb / 16 * 16) * QK) == 0;
    return same;
}

/* Every ISA's activation quantizer gives the scalar loop's bytes (codes, scales, sums, q16,
 * and the AVX-512 decode layouts where it fills them), ragged K included. */
TEST(act_quantize_isas) {
    QRng r;
    qrng_seed(&r, 6);
    static const int Ks[] = {5, 32, 77, 200, 500, 2048, 1000, 800};
    for (int ki = 0; ki < 8; ki++)
        for (int T = 1; T <= 5; T += 2)
            for (int isa = KERN_ISA_AVX2; isa <= (int)kern_isa_best(); isa++) {
                int K = Ks[ki];
                float *x = xmalloc((size_t)T * K * 4);
                for (int i = 0; i < T * K; i++) x[i] = qrng_normal(&r) * (i % 7 == 0 ? 40.0f : 1.0f);
                x[0] = -0.0f;
                KernQAct a, b;
                kern_qact_init(&a, T, K);
                kern_qact_init(&b, T, K);
                kern_qact_quantize_isa(&a, x, T, K, KERN_ISA_SCALAR);
                kern_qact_quantize_isa(&b, x, T, K, (KernIsa)isa);
                /* the decode orders where the AVX-512 kernels read them (kernels.h), q16's whole superblocks */
                CHECK_MSG(qact_same(&a, &b, T, (KernIsa)isa), "%s K %d T %d", kern_isa_name((KernIsa)isa), K, T);
                kern_qact_free(&a);
                kern_qact_free(&b);
                free(x);
            }
}

/* Y of the scalar kernel vs a double sum; every ISA vs the scalar kernel; threads 1 vs 2
 * identical. */
TEST(kernels_vs_reference) {
    QRng r;
    qrng_seed(&r, 4);
    KernIsa best = kern_isa_best();
    static const int Ks[] = {32, 64, 172, 200, 1000, 2048, 500, 1536, 800}; /* from 1000: sb16 too (nb 32, 64, 16, 48; 25: a tail) */
    static const int Ns[] = {1, 17, 33, 64};
    /* decode row dots (<= KERN_QACT_DOT_T), prompt tiles: AVX-512's 6-token register tiles and
     * their remainders (7, 10, 19), AVX2's 4-token ones on sb16 rows (remainders 3, 2, 3) */
    static const int Ts[] = {1, 3, 7, 10, 19};
    int checked = 0;
    for (int type = 0; type < 4; type++)
        for (int affine = 0; affine < 2; affine++)
            for (int ki = 0; ki < 9; ki++)
                for (int ni = 0; ni < 4; ni++)
                    for (int ti = 0; ti < 5; ti++) {
                        int K = Ks[ki], N = Ns[ni], T = Ts[ti];
                        Mat a;
                        mat_make(&a, (KernQType)type, N, K, affine, &r);
                        float *x = xmalloc((size_t)T * K * 4), *b = xmalloc((size_t)N * 4);
                        for (int i = 0; i < T * K; i++) x[i] = qrng_normal(&r);
                        for (int i = 0; i < N; i++) b[i] = qrng_normal(&r);
                        KernQAct xa;
                        kern_qact_init(&xa, T, K);
                        kern_qact_quantize(&xa, x, T, K);
                        float *y0 = xmalloc((size_t)T * N * 4), *y1 = xmalloc((size_t)T * N * 4);
                        kern_qmat_linear(&a.m, &xa, b, y0, KERN_ISA_SCALAR);
                        int bad = 0;
                        for (int t = 0; t < T; t++)
                            for (int n = 0; n < N; n++) {
                                double ref = b[n], mag = fabs(b[n]);
                                for (int blk = 0; blk < a.m.nb; blk++) {
                                    size_t k = (size_t)n * a.m.nb + blk;
                                    int64_t s = 0;
                                    for (int j = 0; j < QK; j++)
                                        s += (int64_t)(a.c[k * QK + j] - (a.z ? a.z[k] : 0)) * xa.q[((size_t)t * xa.nb + blk) * QK + j] *
                                             (blk * QK + j < K);
                                    double term = (double)qf16_to_f32(a.d[k]) * xa.d[t * xa.nb + blk] * (double)s;
                                    ref += term;
                                    mag += fabs(term);
                                }
                                bad += fabs(y0[(size_t)t * N + n] - ref) > 1e-5 * mag + 1e-30;
                            }
                        CHECK_MSG(bad == 0, "scalar vs double: type %d affine %d K %d N %d T %d: %d bad", type, affine, K, N, T, bad);
                        for (int isa = KERN_ISA_AVX2; isa <= (int)best; isa++) {
                            kern_qmat_linear(&a.m, &xa, b, y1, (KernIsa)isa);
                            int diff = 0;
                            for (int i = 0; i < T * N; i++) {
                                double tol = 2e-5 * (fabs(y0[i]) + 1.0);
                                diff += fabs((double)y1[i] - y0[i]) > tol;
                            }
                            CHECK_MSG(diff == 0, "%s vs scalar: type %d affine %d K %d N %d T %d: %d differ", kern_isa_name((KernIsa)isa),
                                      type, affine, K, N, T, diff);
                            checked++;
                        }
                        if (mat_sb16(&a)) { /* the same matrix in the sb16 layout: scalar bit for bit, every ISA as above */
                            for (int isa = 0; isa <= (int)best; isa++) {
                                kern_qmat_linear(&a.m, &xa, b, y1, (KernIsa)isa);
                                int diff = 0;
                                for (int i = 0; i < T * N; i++)
                                    diff += fabs((double)y1[i] - y0[i]) > (isa == KERN_ISA_SCALAR ? 0 : 2e-5 * (fabs(y0[i]) + 1.0));
                                CHECK_MSG(diff == 0, "sb16 %s vs scalar: type %d K %d N %d T %d: %d differ",
                                          kern_isa_name((KernIsa)isa), type, K, N, T, diff);
                                checked++;
                            }
                        }
                        free(x);
                        free(b);
                        free(y0);
                        free(y1);
                        kern_qact_free(&xa);
                        mat_free(&a);
                    }
    CHECK(best < KERN_ISA_AVX2 || checked > 0);
}

TEST(threads_identical) {
    QRng r;
    qrng_seed(&r, 5);
    KernIsa best = kern_isa_best();
    const int N = 1000, K = 2048;
    for (int T = 1; T <= 9; T += 8) /* row dots and prompt tiles */
    for (int type = 0; type < 12; type++) { /* 4-7: the four in the sb16 layout; 8-11: the same, affine */
        Mat a;
        mat_make(&a, (KernQType)(type % 4), N, K, type >= 8, &r);
        if (type >= 4) CHECK(mat_sb16(&a));
        float *x = xmalloc((size_t)T * K * 4), *y1 = xmalloc((size_t)T * N * 4), *y2 = xmalloc((size_t)T * N * 4);
        for (int i = 0; i < T * K; i++) x[i] = qrng_normal(&r);
        KernQAct xa;
        kern_qact_init(&xa, T, K);
        kern_qact_quantize(&xa, x, T, K);
        for (int isa = 0; isa <= (int)best; isa++) {
            omp_set_num_threads(2);
            kern_qmat_linear(&a.m, &xa, NULL, y2, (KernIsa)isa);
            omp_set_num_threads(1);
            kern_qmat_linear(&a.m, &xa, NULL, y1, (KernIsa)isa);
            CHECK_MSG(memcmp(y1, y2, (size_t)T * N * 4) == 0, "type %d isa %s T %d", type, kern_isa_name((KernIsa)isa), T);
        }
        omp_set_num_threads(2);
        kern_qact_free(&xa);
        free(x);
        free(y1);
        free(y2);
        mat_free(&a);
    }
}

/* Several linears in one pool job (q, k, v; gate, up) give each one's kern_qmat_linear bit for
 * bit, biases included, at 1 and 2 threads, for decode and prompt. */
TEST(linear_n_equals_single) {
    QRng r;
    qrng_seed(&r, 6);
    KernIsa best = kern_isa_best();
    const int K = 320, Ns[3] = {100, 33, 64};
    for (int T = 1; T <= 7; T += 6)
        for (int type = 0; type < 4; type++) {
            Mat a[3];
            float *x = xmalloc((size_t)T * K * 4), *b[3], *y1[3], *y2[3];
            for (int i = 0; i < T * K; i++) x[i] = qrng_normal(&r);
            for (int m = 0; m < 3; m++) {
                mat_make(&a[m], (KernQType)type, Ns[m], K, type == KERN_Q3, &r);
                b[m] = xmalloc((size_t)Ns[m] * 4);
                for (int i = 0; i < Ns[m]; i++) b[m][i] = qrng_normal(&r);
                y1[m] = xmalloc((size_t)T * Ns[m] * 4);
                y2[m] = xmalloc((size_t)T * Ns[m] * 4);
            }
            KernQAct xa;
            kern_qact_init(&xa, T, K);
            kern_qact_quantize(&xa, x, T, K);
            const KernQMat *W[3] = {&a[0].m, &a[1].m, &a[2].m};
            const float *bc[3] = {b[0], NULL, b[2]};
            for (int isa = 0; isa <= (int)best; isa++)
                for (int th = 1; th <= 2; th++) {
                    omp_set_num_threads(th);
                    for (int m = 0; m < 3; m++) kern_qmat_linear(W[m], &xa, bc[m], y1[m], (KernIsa)isa);
                    kern_qmat_linear_n(3, W, &xa, bc, y2, (KernIsa)isa);
                    for (int m = 0; m < 3; m++)
                        CHECK_MSG(memcmp(y1[m], y2[m], (size_t)T * Ns[m] * 4) == 0, "type %d isa %s T %d threads %d linear %d",
                                  type, kern_isa_name((KernIsa)isa), T, th, m);
                    /* more linears than one job holds (KERN_QMAT_MULTI): the three twice */
                    const KernQMat *W6[6] = {W[0], W[1], W[2], W[0], W[1], W[2]};
                    const float *b6[6] = {bc[0], bc[1], bc[2], bc[0], bc[1], bc[2]};
                    float *y6[6];
                    for (int m = 0; m < 6; m++) y6[m] = xmalloc((size_t)T * Ns[m % 3] * 4);
                    kern_qmat_linear_n(6, W6, &xa, b6, y6, (KernIsa)isa);
                    for (int m = 0; m < 6; m++) {
                        CHECK_MSG(memcmp(y1[m % 3], y6[m], (size_t)T * Ns[m % 3] * 4) == 0,
                                  "6 linears: type %d isa %s T %d threads %d linear %d", type, kern_isa_name((KernIsa)isa), T, th, m);
                        free(y6[m]);
                    }
                }
            omp_set_num_threads(2);
            kern_qact_free(&xa);
            for (int m = 0; m < 3; m++) {
                mat_free(&a[m]);
                free(b[m]);
                free(y1[m]);
                free(y2[m]);
            }
            free(x);
        }
}

/* The gated FFN's one job (kern_qmat_swiglu) against its parts: kern_qmat_linear_n on gate and
 * up, kern_swiglu_f32, kern_qact_quantize_isa — the hidden and its int8 blocks bit for bit,
 * every type and ISA, 1 and 2 threads, widths with a ragged last tile and whole superblocks,
 * decode (1-3 tokens) and more tokens; a bias on up; no quantizing when hq is NULL. */
TEST(swiglu_fused) {
    QRng r;
    qrng_seed(&r, 12);
    static const int shapes[][2] = {/* N, K */ {172, 64}, {700, 96}, {1024, 520}, {33, 40}};
    KernIsa best = kern_isa_best();
    for (int si = 0; si < 4; si++)
        for (int T = 1; T <= 5; T += 2)
            for (int type = 0; type < 4; type++) {
                const int N = shapes[si][0], K = shapes[si][1];
                Mat g, u;
                mat_make(&g, (KernQType)type, N, K, type == KERN_Q2, &r);
                mat_make(&u, (KernQType)type, N, K, 0, &r);
                if (si == 2) mat_sb16(&g), mat_sb16(&u);
                float *x = xmalloc((size_t)T * K * 4), *bu = xmalloc((size_t)N * 4);
                for (int i = 0; i < T * K; i++) x[i] = 30 * qrng_normal(&r);
                for (int i = 0; i < N; i++) bu[i] = qrng_normal(&r);
                float *h1 = xmalloc((size_t)T * N * 4), *u1 = xmalloc((size_t)T * N * 4);
                float *h2 = xmalloc((size_t)T * N * 4), *u2 = xmalloc((size_t)T * N * 4);
                KernQAct xa, q1, q2;
                kern_qact_init(&xa, T, K);
                kern_qact_init(&q1, T, N);
                kern_qact_init(&q2, T, N);
                kern_qact_quantize(&xa, x, T, K);
                const KernQMat *W[2] = {&g.m, &u.m};
                const float *b[2] = {NULL, bu};
                for (int isa = 0; isa <= (int)best; isa++)
                    for (int th = 1; th <= 2; th++) {
                        omp_set_num_threads(th);
                        float *Y[2] = {h1, u1};
                        kern_qmat_linear_n(2, W, &xa, b, Y, (KernIsa)isa);
                        kern_swiglu_f32((size_t)T * N, h1, u1);
                        kern_qact_quantize_isa(&q1, h1, T, N, (KernIsa)isa);
                        memset(h2, 0xff, (size_t)T * N * 4);
                        kern_qmat_swiglu(&g.m, &u.m, &xa, NULL, bu, h2, u2, &q2, (KernIsa)isa);
                        CHECK_MSG(memcmp(h1, h2, (size_t)T * N * 4) == 0 && qact_same(&q1, &q2, T, (KernIsa)isa),
                                  "type %d isa %s N %d K %d T %d threads %d", type, kern_isa_name((KernIsa)isa), N, K, T, th);
                        memset(h2, 0xff, (size_t)T * N * 4);
                        q2.T = -1;
                        kern_qmat_swiglu(&g.m, &u.m, &xa, NULL, bu, h2, u2, NULL, (KernIsa)isa);
                        CHECK_MSG(memcmp(h1, h2, (size_t)T * N * 4) == 0 && q2.T == -1, "no hq: type %d isa %s N %d T %d", type,
                                  kern_isa_name((KernIsa)isa), N, T);
                    }
                omp_set_num_threads(2);
                kern_qact_free(&xa);
                kern_qact_free(&q1);
                kern_qact_free(&q2);
                mat_free(&g);
                mat_free(&u);
                free(x);
                free(bu);
                free(h1);
                free(u1);
                free(h2);
                free(u2);
            }
}

/* kern_qmat_recode_avx2 (the prompt's path for Q3 / Q2 / affine rows): every recoded block,
 * read back through kern_qmat_block_codes (the scalar kernel's reader), holds c - z under the
 * same scale, in Q4_0 and Q8_0, GGUF order and sb16 (whole superblocks, a lone one, a tail),
 * from rows of W in either layout; it refuses exactly when some c - z leaves the target's
 * codes.  Then whole linears whose recoding needs the Q8_0 retry or fails (the general path)
 * against the scalar kernel. */
TEST(recode) {
    if (kern_isa_best() < KERN_ISA_AVX2) return;
    QRng r;
    qrng_seed(&r, 9);
    static const int Ks[] = {200, 1000, 1536, 800}; /* nb 7; 32 (two superblocks), 48 (a lone third), 25 (a tail) */
    int recoded = 0, refused = 0;
    for (int type = 0; type < 4; type++)
        for (int zk = 0; zk < 6; zk++) /* symmetric; zero-points in the type's codes; all 100, 0, -1 or 1 (Q4_0 / Q8_0: the edges) */
            for (int ki = 0; ki < 4; ki++)
                for (int target = 0; target < 2; target++)
                    for (int sb = 0; sb < 4; sb++) { /* bit 0: V in sb16; bit 1: W in sb16 */
                        const int K = Ks[ki], N = 5;
                        if (sb && qblock_count(K) < 16) continue;
                        if (zk == 0 && type <= KERN_Q4_0) continue; /* symmetric Q8_0 / Q4_0 are never recoded */
                        Mat a;
                        mat_make(&a, (KernQType)type, N, K, zk > 0, &r);
                        if (sb & 2) CHECK(mat_sb16(&a));
                        static const int zfix[6] = {0, 0, 100, 0, -1, 1};
                        if (zk >= 2) memset(a.z, zfix[zk], (size_t)N * a.m.nb);
                        KernQMat V = {target ? KERN_Q8_0 : KERN_Q4_0, N, K, a.m.nb, NULL, NULL, sb & 1};
                        uint8_t *buf = xmalloc64(kern_qmat_row_bytes(&V) * N);
                        int fits = 1;
                        for (size_t i = 0; i < (size_t)N * a.m.nb * QK; i++) {
                            int v = a.c[i] - (a.z ? a.z[i / QK] : 0);
                            fits &= target ? v >= -128 && v <= 127 : v >= -8 && v <= 7;
                        }
                        int ok = kern_qmat_recode_avx2(&a.m, 0, N, &V, buf);
                        CHECK_MSG(ok == fits, "type %d zeros %d K %d target %d sb16 %d: recode says %d", type, zk, K, target, sb, ok);
                        if (ok) {
                            V.blocks = buf;
                            int bad = 0;
                            for (int n = 0; n < N; n++)
                                for (int b = 0; b < a.m.nb; b++) {
                                    int8_t c[QK];
                                    float d;
                                    kern_qmat_block_codes(&V, n, b, c, &d);
                                    size_t k = (size_t)n * a.m.nb + b;
                                    for (int j = 0; j < QK; j++) bad += c[j] != a.c[k * QK + j] - (a.z ? a.z[k] : 0);
                                    bad += d != qf16_to_f32(a.d[k]);
                                }
                            CHECK_MSG(bad == 0, "type %d zeros %d K %d target %d sb16 %d: %d codes differ", type, zk, K, target, sb, bad);
                            recoded++;
                        } else {
                            refused++;
                        }
                        free(buf);
                        mat_free(&a);
                    }
    CHECK(recoded > 0 && refused > 0);
    /* Q3 with zero-points 100: recoded into Q8_0 after Q4_0 refuses; Q8_0 with zero-points
     * -128 against codes up to 127: refused, so the row dot runs */
    for (int type = 0; type < 4; type += 2) {
        const int K = 1000, N = 40, T = 9;
        Mat a;
        mat_make(&a, (KernQType)type, N, K, 1, &r);
        memset(a.z, type == KERN_Q3 ? 100 : -128, (size_t)N * a.m.nb);
        float *x = xmalloc((size_t)T * K * 4), *y0 = xmalloc((size_t)T * N * 4), *y1 = xmalloc((size_t)T * N * 4);
        for (int i = 0; i < T * K; i++) x[i] = qrng_normal(&r);
        KernQAct xa;
        kern_qact_init(&xa, T, K);
        kern_qact_quantize(&xa, x, T, K);
        kern_qmat_linear(&a.m, &xa, NULL, y0, KERN_ISA_SCALAR);
        for (int isa = KERN_ISA_AVX2; isa <= (int)kern_isa_best(); isa++) {
            kern_qmat_linear(&a.m, &xa, NULL, y1, (KernIsa)isa);
            int diff = 0;
            for (int i = 0; i < T * N; i++) diff += fabs((double)y1[i] - y0[i]) > 2e-5 * (fabs(y0[i]) + 1.0);
            CHECK_MSG(diff == 0, "%s type %d: %d differ", kern_isa_name((KernIsa)isa), type, diff);
        }
        kern_qact_free(&xa);
        free(x);
        free(y0);
        free(y1);
        mat_free(&a);
    }
}

/* llama.cpp's Q4_K / Q6_K superblocks as packed linears (qmat_k.c, qmat_k_avx2.c): random
 * superblocks (every byte random but the f16 scales, kept small and finite); the scalar kernel
 * against a double sum over the dequantized weights (qblock_k_dequant, which gguf.sh holds to
 * ggml's own) times the activation codes; every ISA against the scalar kernel; 1 and 2 threads
 * bit for bit; and the K rows inside one job with Q4_0 rows (kern_qmat_linear_n). */
static void *k_rows(KernQType type, int N, int K, QRng *r) {
    const KernQMat shape = {type, N, K, K / QK, NULL, NULL, 0};
    const size_t rb = kern_qmat_row_bytes(&shape), sbb = kern_qtype_block_bytes(type);
    uint8_t *p = xmalloc64((size_t)N * rb);
    for (size_t i = 0; i < (size_t)N * rb; i++) p[i] = (uint8_t)qrng_u32(r);
    for (size_t sb = 0; sb < (size_t)N * rb / sbb; sb++) {
        uint8_t *b = p + sb * sbb;
        const uint16_t d = qf32_to_f16(0.0005f + 0.002f * qrng_uniform(r)), dmin = qf32_to_f16(0.002f * qrng_uniform(r));
        if (type == KERN_Q4_K) {
            memcpy(b, &d, 2);
            memcpy(b + 2, &dmin, 2);
        } else {
            memcpy(b + 208, &d, 2);
        }
    }
    return p;
}

TEST(k_types) {
    QRng r;
    qrng_seed(&r, 17);
    KernIsa best = kern_isa_best();
    static const int Ks[] = {256, 512, 2048, 1280}, Ns[] = {1, 17, 33, 64}, Ts[] = {1, 3, 7};
    int checked = 0;
    for (int ty = 0; ty < 2; ty++)
        for (int ki = 0; ki < 4; ki++)
            for (int ni = 0; ni < 4; ni++)
                for (int ti = 0; ti < 3; ti++) {
                    const KernQType type = ty ? KERN_Q6_K : KERN_Q4_K;
                    const int K = Ks[ki], N = Ns[ni], T = Ts[ti];
                    void *blocks = k_rows(type, N, K, &r);
                    const KernQMat W = {type, N, K, K / QK, blocks, NULL, 0};
                    float *w = xmalloc((size_t)N * K * 4), *x = xmalloc((size_t)T * K * 4);
                    float *y0 = xmalloc((size_t)T * N * 4), *y1 = xmalloc((size_t)T * N * 4), *y2 = xmalloc((size_t)T * N * 4);
                    kern_qmat_dequant(&W, w);
                    for (int i = 0; i < T * K; i++) x[i] = qrng_normal(&r);
                    KernQAct xa;
                    kern_qact_init(&xa, T, K);
                    kern_qact_quantize(&xa, x, T, K);
                    kern_qmat_linear(&W, &xa, NULL, y0, KERN_ISA_SCALAR);
                    double *mags = xmalloc((size_t)T * N * sizeof(double));
                    int bad = 0;
                    for (int t = 0; t < T; t++)
                        for (int n = 0; n < N; n++) {
                            double ref = 0, mag = 0;
                            for (int b = 0; b < K / QK; b++) {
                                double s = 0;
                                for (int k = 0; k < QK; k++)
                                    s += (double)w[(size_t)n * K + b * QK + k] * xa.q[((size_t)t * xa.nb + b) * QK + k];
                                ref += s * xa.d[(size_t)t * xa.nb + b];
                                mag += fabs(s * xa.d[(size_t)t * xa.nb + b]);
                            }
                            bad += fabs(y0[(size_t)t * N + n] - ref) > 1e-5 * mag + 1e-30;
                            mags[(size_t)t * N + n] = mag;
                        }
                    CHECK_MSG(bad == 0, "%s scalar vs double: K %d N %d T %d: %d bad", kern_qtype_name(type), K, N, T, bad);
                    for (int isa = KERN_ISA_AVX2; isa <= (int)best; isa++) {
                        omp_set_num_threads(2);
                        kern_qmat_linear(&W, &xa, NULL, y1, (KernIsa)isa);
                        omp_set_num_threads(1);
                        kern_qmat_linear(&W, &xa, NULL, y2, (KernIsa)isa);
                        omp_set_num_threads(2);
                        int diff = 0;
                        for (int i = 0; i < T * N; i++) diff += fabs((double)y1[i] - y0[i]) > 1e-5 * mags[i] + 1e-30;
                        CHECK_MSG(diff == 0, "%s %s vs scalar: K %d N %d T %d: %d differ", kern_qtype_name(type),
                                  kern_isa_name((KernIsa)isa), K, N, T, diff);
                        CHECK_MSG(memcmp(y1, y2, (size_t)T * N * 4) == 0, "%s %s: 1 and 2 threads differ", kern_qtype_name(type),
                                  kern_isa_name((KernIsa)isa));
                        checked++;
                    }
                    kern_qact_free(&xa);
                    free(mags);
                    free(blocks);
                    free(w);
                    free(x);
                    free(y0);
                    free(y1);
                    free(y2);
                }
    CHECK(best < KERN_ISA_AVX2 || checked > 0);
    /* in one job beside a Q4_0 matrix (q, k, v of a K file are often two types) */
    const int K = 512, N = 40, T = 2;
    void *b4 = k_rows(KERN_Q4_K, N, K, &r), *b6 = k_rows(KERN_Q6_K, N, K, &r);
    Mat a;
    mat_make(&a, KERN_Q4_0, N, K, 0, &r);
    const KernQMat W4 = {KERN_Q4_K, N, K, K / QK, b4, NULL, 0}, W6 = {KERN_Q6_K, N, K, K / QK, b6, NULL, 0};
    const KernQMat *Ws[3] = {&W4, &a.m, &W6};
    float *x = xmalloc((size_t)T * K * 4), *ys[3], *one = xmalloc((size_t)T * N * 4);
    for (int i = 0; i < T * K; i++) x[i] = qrng_normal(&r);
    KernQAct xa;
    kern_qact_init(&xa, T, K);
    kern_qact_quantize(&xa, x, T, K);
    for (int m = 0; m < 3; m++) ys[m] = xmalloc((size_t)T * N * 4);
    kern_qmat_linear_n(3, Ws, &xa, NULL, ys, best);
    for (int m = 0; m < 3; m++) {
        kern_qmat_linear(Ws[m], &xa, NULL, one, best);
        CHECK_MSG(memcmp(one, ys[m], (size_t)T * N * 4) == 0, "linear %d of the job differs", m);
        free(ys[m]);
    }
    kern_qact_free(&xa);
    mat_free(&a);
    free(b4);
    free(b6);
    free(x);
    free(one);
}

int main(void) {
    RUN(blocks_roundtrip);
    RUN(dequant_matches_codes);
    RUN(act_quantize_isas);
    RUN(act_quantize);
    RUN(kernels_vs_reference);
    RUN(threads_identical);
    RUN(recode);
    RUN(k_types);
    RUN(linear_n_equals_single);
    RUN(swiglu_fused);
    return test_summary("test_qmat");
}
