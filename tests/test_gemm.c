/* test_gemm.c — quant's fp32 GEMM (kern_sgemm, gemm_f32*.c) on every ISA path this CPU runs,
 * against a double-precision reference and against OpenBLAS: odd shapes (1 x 1, primes, the
 * tails of every register tile and cache block, M <= 4 decode shapes), the four transposes,
 * alpha / beta, beta = 0 over NaN; and identical results with 1 and 2 threads. */
#include <cblas.h>
#include <float.h>
#include <omp.h>
#include <stdint.h>

#include "quant/kernels.h"
#include "test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 40) / (double)(1ull << 23) - 1.0);
}
static float *randm(size_t n) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

/* |C - C_ref| <= (K + 4) eps (|alpha| sum_k |a b| + |beta c|) for every element: the bound of
 * any order of fp32 summation.  A wrong or missing k term is off by about |a b| >> that. */
static int check_one(int isa, int ta, int tb, int M, int N, int K, float alpha, float beta) {
    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2; /* strides wider than rows */
    float *A = randm((size_t)(ta ? K : M) * lda), *B = randm((size_t)(tb ? N : K) * ldb);
    float *C0 = randm((size_t)M * ldc), *C = malloc((size_t)M * ldc * sizeof(float));
    float *Cb = malloc((size_t)M * ldc * sizeof(float)), *Cr = malloc((size_t)M * ldc * sizeof(float));
    if (beta == 0.0f) C0[0] = NAN; /* beta == 0 must not read C */
    memcpy(C, C0, (size_t)M * ldc * sizeof(float));
    memcpy(Cb, C0, (size_t)M * ldc * sizeof(float));
    memcpy(Cr, C0, (size_t)M * ldc * sizeof(float));
    kern_gemm_force(KERN_GEMM_QUANT, (KernGemmIsa)isa);
    kern_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, Cb, ldc);
    kern_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cr, ldc);
    int bad = 0;
    for (int m = 0; m < M && !bad; m++)
        for (int n = 0; n < N && !bad; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
                double b = tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
                s += fabs(a * b);
            }
            double c0 = beta == 0.0f ? 0.0 : fabs((double)beta * C0[(size_t)m * ldc + n]);
            double tol = (K + 4) * (double)FLT_EPSILON * (fabs(alpha) * s + c0) + 1e-30;
            size_t i = (size_t)m * ldc + n;
            if (!(fabs((double)C[i] - Cr[i]) <= tol) || !(fabs((double)Cb[i] - Cr[i]) <= tol)) {
                CHECK_MSG(0, "isa %s ta %d tb %d M %d N %d K %d alpha %g beta %g: C[%d,%d] quant %.9g openblas %.9g "
                             "ref %.9g tol %.3g",
                          kern_gemm_isa_name((KernGemmIsa)isa), ta, tb, M, N, K, alpha, beta, m, n, C[i], Cb[i], Cr[i],
                          tol);
                bad = 1;
            }
        }
    /* padding between rows untouched */
    for (int m = 0; m < M && !bad; m++)
        for (int n = N; n < ldc; n++)
            if (memcmp(&C[(size_t)m * ldc + n], &C0[(size_t)m * ldc + n], sizeof(float)) != 0) {
                CHECK_MSG(0, "isa %d: wrote C[%d,%d] beyond N = %d", isa, m, n, N);
                bad = 1;
                break;
            }
    free(A), free(B), free(C0), free(C), free(Cb), free(Cr);
    return bad;
}

/* the ISAs this CPU runs (kern_gemm_force caps to them; count the distinct ones) */
static int isa_count(void) {
    kern_gemm_force(KERN_GEMM_QUANT, KERN_GEMM_AVX512);
    return (int)kern_gemm_choice()->isa + 1;
}

TEST(odd_shapes_every_isa) {
    /* M, N, K: 1 x 1; M <= 4 (the dot path when B is transposed); tails of MR in {4, 6, 12},
     * NR in {8, 16, 32}, the 4- and 1-row dot blocks, 8/16-lane k tails; primes; K across KC = 256 */
    static const int shapes[][3] = {
        {1, 1, 1},     {1, 7, 5},     {1, 37, 129},  {2, 5, 17},    {3, 67, 300},  {4, 33, 257},   {5, 9, 16},
        {3, 8, 8},     {5, 17, 31},   {7, 15, 33},   {11, 31, 64},  {12, 32, 256}, {13, 33, 257},  {6, 16, 1},
        {25, 47, 97},  {97, 131, 13}, {145, 263, 7}, {150, 257, 300}, {37, 512, 513}, {289, 300, 40},
    };
    const int nisa = isa_count();
    int fails = 0;
    for (int isa = 0; isa < nisa; isa++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes && fails < 5; s++)
            for (int t = 0; t < 4; t++) {
                const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                fails += check_one(isa, t >> 1, t & 1, M, N, K, 1.0f, 0.0f);
                fails += check_one(isa, t >> 1, t & 1, M, N, K, -0.75f, 1.0f);
                fails += check_one(isa, t >> 1, t & 1, M, N, K, 0.5f, -2.0f);
            }
    kern_gemm_force(KERN_GEMM_AUTO, KERN_GEMM_AVX512);
}

TEST(beyond_the_cache_blocks) {
    /* N > NC = 4096 and M > MB = 1536: several B and A blocks, each summed over K in order */
    const int nisa = isa_count();
    for (int isa = 0; isa < nisa; isa++) {
        check_one(isa, 0, 1, 1540, 4100, 3, 1.0f, 0.0f);
        check_one(isa, 1, 0, 40, 4099, 260, 1.0f, 1.0f);
    }
    kern_gemm_force(KERN_GEMM_AUTO, KERN_GEMM_AVX512);
}

/* The same product at 2 threads, 1 thread, 2 threads again: bit-identical C, every ISA. */
TEST(identical_for_any_thread_count) {
    static const int shapes[][4] = {/* ta, M, N, K: a calibration window, a decode row, a backward dW */
                                    {0, 256, 704, 288}, {0, 1, 2048, 515}, {1, 300, 512, 260}};
    const int nisa = isa_count(), old = omp_get_max_threads();
    for (int isa = 0; isa < nisa; isa++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            const int ta = shapes[s][0], M = shapes[s][1], N = shapes[s][2], K = shapes[s][3];
            float *A = randm((size_t)M * K), *B = randm((size_t)N * K);
            float *C[3];
            kern_gemm_force(KERN_GEMM_QUANT, (KernGemmIsa)isa);
            for (int r = 0; r < 3; r++) {
                omp_set_num_threads(r == 1 ? 1 : 2);
                C[r] = malloc((size_t)M * N * sizeof(float));
                kern_sgemm(ta, !ta, M, N, K, 1.0f, A, ta ? M : K, B, ta ? N : K, 0.0f, C[r], N);
            }
            CHECK_MSG(memcmp(C[0], C[1], (size_t)M * N * sizeof(float)) == 0, "isa %d shape %zu: 2 vs 1 thread", isa, s);
            CHECK_MSG(memcmp(C[0], C[2], (size_t)M * N * sizeof(float)) == 0, "isa %d shape %zu: run to run", isa, s);
            for (int r = 0; r < 3; r++) free(C[r]);
            free(A), free(B);
        }
    omp_set_num_threads(old);
    kern_gemm_force(KERN_GEMM_AUTO, KERN_GEMM_AVX512);
}

/* The automatic choice follows its rule, and says why in one line. */
TEST(choice_states_its_reason) {
    kern_gemm_force(KERN_GEMM_AUTO, KERN_GEMM_AVX512);
    const KernGemmChoice *c = kern_gemm_choice();
    int ours = c->isa >= KERN_GEMM_AVX2 && c->blas_level < c->cpu_level;
    CHECK(c->impl == (ours ? KERN_GEMM_QUANT : KERN_GEMM_BLAS));
    CHECK(strlen(c->why) > 10 && strstr(c->why, c->impl == KERN_GEMM_QUANT ? "quant" : "OpenBLAS"));
    CHECK(strlen(c->blas_core) > 0);
    CHECK(!c->decode_ours || (c->impl == KERN_GEMM_BLAS && c->isa >= KERN_GEMM_AVX2));
    kern_gemm_force(KERN_GEMM_BLAS, KERN_GEMM_AVX512);
    CHECK(kern_gemm_choice()->impl == KERN_GEMM_BLAS);
    kern_gemm_force(KERN_GEMM_AUTO, KERN_GEMM_AVX512);
}

int main(void) {
    RUN(odd_shapes_every_isa);
    RUN(beyond_the_cache_blocks);
    RUN(identical_for_any_thread_count);
    RUN(choice_states_its_reason);
    return test_summary("test_gemm");
}
