/* kernels.h — matrix products: fp32 through BLAS, and the integer kernels that the
 * quantized models run on.  Nothing here knows about models or calibration.
 *
 * Layout convention everywhere: activations X[M, K] row-major (M = batch/tokens),
 * weights W[N, K] row-major (N = output features), outputs Y[M, N]:  Y = X W^T (+ b). */
#ifndef QUANT_KERNELS_H
#define QUANT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ fp32 */
/* Y[M,N] = X[M,K] W[N,K]^T + b[N] (b may be NULL); through kern_sgemm. */
void kern_linear_f32(int M, int N, int K, const float *X, const float *W, const float *b, float *Y);

/* C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C, row-major, as cblas_sgemm(CblasRowMajor, ...):
 * op(A)[m,k] = ta ? A[k*lda + m] : A[m*lda + k],  op(B)[k,n] = tb ? B[n*ldb + k] : B[k*ldb + n].
 * beta == 0 ignores C's contents (NaN included).  Runs on OpenBLAS or on quant's own kernels
 * (gemm_f32.c), whichever kern_gemm_choice() says; quant's kernels give the same C for any
 * thread count (the threads split C, never a sum over k). */
void kern_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc);

/* Which fp32 GEMM runs.  AUTO (default) takes quant's kernels when OpenBLAS's core (the
 * kernels it selected at load time, openblas_get_corename) is below this CPU's vector ISA,
 * else OpenBLAS; per product where measured faster (bench/bench_gemm.c --decode): 2-4 rows
 * against weights on quant's kernels, one row (kern_linear_f32) on OpenBLAS's sgemv from an
 * AVX2 core up.
 * QUANT_GEMM=auto|blas|quant overrides at start-up; QUANT_ISA=scalar|avx2 caps quant's kernels
 * as it caps the int8 ones.  An explicit OPENBLAS_CORETYPE is never changed. */
typedef enum KernGemmImpl { KERN_GEMM_AUTO = 0, KERN_GEMM_BLAS = 1, KERN_GEMM_QUANT = 2 } KernGemmImpl;
typedef enum KernGemmIsa { KERN_GEMM_SCALAR = 0, KERN_GEMM_AVX2 = 1, KERN_GEMM_AVX512 = 2 } KernGemmIsa;
typedef struct KernGemmChoice {
    KernGemmImpl impl;      /* BLAS or QUANT (never AUTO once resolved) */
    KernGemmIsa isa;        /* quant's kernels: the ISA they run */
    int decode_ours;        /* impl BLAS, but products of 2-4 rows against weights on quant's */
    int gemv_tiles;         /* kern_linear_f32 of one row: tiles over the pool (whatever impl) of */
    int gemv_ours;          /*   quant's AVX-512 rows (1) or OpenBLAS's sgemv (0) */
    int cpu_level;          /* vector ISA of this CPU:        0 SSE, 1 AVX, 2 AVX2+FMA, 3 AVX-512 */
    int blas_level;         /* vector ISA of OpenBLAS's core: same scale (-1 unknown name) */
    char blas_core[32];     /* openblas_get_corename() */
    char why[256];          /* one line: "quant avx512 (OpenBLAS core Haswell below this CPU's AVX-512)" */
} KernGemmChoice;
const KernGemmChoice *kern_gemm_choice(void);
/* Test and bench hook: force an implementation (AUTO re-resolves) and cap quant's ISA
 * (capped to what the CPU runs).  Not thread-safe: call between products. */
void kern_gemm_force(KernGemmImpl impl, KernGemmIsa isa);
const char *kern_gemm_isa_name(KernGemmIsa isa);
/* The reference: double accumulation in k order, same argument convention (tests, benches). */
void kern_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc);

/* ------------------------------------------------------------ int8 GEMM */
/* Which implementation runs; chosen once from CPUID, overridable for tests and benches. */
typedef enum KernIsa {
    KERN_ISA_SCALAR = 0,
    KERN_ISA_AVX2 = 1,
    KERN_ISA_AVX512VNNI = 2,
} KernIsa;
KernIsa     kern_isa_best(void);               /* best the CPU supports */
const char *kern_isa_name(KernIsa isa);
/* 1 when the CPU has AMX tiles with int8 products (CPUID alone). */
int         kern_cpu_amx_int8(void);
/* Whether prompts (16 tokens and more) of the group-quantized kernels run on the AMX int8 tiles,
 * and why not: "none on this CPU", "on (...)", "off (reason)".  The first call decides (amx.c:
 * CPU, OS, permission, a self-test); QUANT_AMX=0 turns the tiles off.  kern_amx_force_off(1)
 * turns them off for later products (tests, benchmarks: the AVX-512 VNNI kernel alone), 0 back. */
const char *kern_amx_status(void);
void        kern_amx_force_off(int off);

/* Weights W[N, K] int8 codes, pre-packed once into whatever layout the ISA's kernel wants,
 * with the per-row sums sum_k W[n,k] precomputed (needed for activation zero-points).
 * The weights carry their ISA (capped to what this CPU runs); every call on them uses it. */
typedef struct KernS8Weights KernS8Weights;
KernS8Weights *kern_s8_weights_pack(const int8_t *W, int N, int K, KernIsa isa);
void           kern_s8_weights_free(KernS8Weights *w);
KernIsa        kern_s8_weights_isa(const KernS8Weights *w);   /* the ISA it was packed for */

/* Fixed-point requantization of an int32 accumulator to int8, per output channel n:
 *   y = clamp(zero_y + round_half_away(acc * mult[n] * 2^-31 * 2^-shift[n]), lo, hi)
 * where real multiplier  M = s_x * s_w[n] / s_y  =  mult * 2^(-31 - shift), mult in [2^30, 2^31).
 * (gemmlowp / TFLite "quantized multiplier"; lo = zero_y for a fused ReLU, else -128.) */
typedef struct KernRequant {
    const int32_t *mult;    /* [N] */
    const int32_t *shift;   /* [N] right shift (may be negative = left) */
    int32_t zero_y;
    int32_t lo, hi;
} KernRequant;
/* Splits a real multiplier 0 < m < 2^31 into (mult, shift). */
void kern_quantize_multiplier(double m, int32_t *mult, int32_t *shift);
/* The scalar reference of one requantization step (the ISA kernels must match it bit for bit). */
int32_t kern_requant_one(int32_t acc, int32_t mult, int32_t shift, int32_t zero_y, int32_t lo, int32_t hi);

/* Integer-only quantized linear layer (large products run on the kernels' own worker
 * threads, as many as omp_get_max_threads() allows; small ones and calls from inside a
 * parallel region run on the calling thread):
 *   acc[m,n] = sum_k (X[m,k] - zero_x) * W[n,k] + bias[n]          (int32, exact)
 *   Y[m,n]   = requant(acc[m,n])                                     (int8)
 * X int8 codes [M, K]; bias int32 [N] (may be NULL); Y int8 [M, N].
 * Every ISA gives bit-identical Y. */
void kern_qlinear_s8(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W,
                     const int32_t *bias, const KernRequant *rq, int8_t *Y);
/* Same product, int32 output acc[M, N] (no requantization) — for the final layer / logits. */
void kern_qlinear_s8_acc(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W,
                         const int32_t *bias, int32_t *acc);


/* Entry of an integer-only network: y[i] = quant_code(x[i], scale, zero, qmin, qmax)
 * (qparams.h: x / scale, clamped, rounded half to even, + zero) bit for bit, with the
 * ISA's SIMD (isa from kern_isa_best() or kern_s8_weights_isa(): one the CPU runs).
 * -128 <= qmin <= qmax <= 127.  x[n] float, y[n] int8. */
void kern_quantize_f32_s8(int64_t n, const float *x, float scale, int32_t zero, int32_t qmin, int32_t qmax,
                          int8_t *y, KernIsa isa);

/* ------------------------------------------- group-quantized linear (packed blocks) */
/* Weights W[N, K] as rows of ceil(K / 32) blocks of 32 codes with a float16 scale each
 * (qblock.h: GGUF Q8_0 / Q4_0, quant's Q3 / Q2); a group wider than 32 repeats its scale in
 * each of its blocks, a row's last block is padded with code 0.  Optional per-block
 * zero-points for affine grids: w = d * (q - z). */
/* KERN_Q4_K / KERN_Q6_K: llama.cpp's superblocks of 256 as a GGUF file stores them (qblock.h;
 * K a multiple of 256, never sb16 or zero-points): rows of K / 256 superblocks of 144 / 210
 * bytes; nb still counts the activations' blocks of 32, each of which is one Q4_K sub-block
 * (d sc q - dmin m) or two Q6_K halves of 16 (d sc (q - 32)).  Their kernels are row dots for
 * any number of tokens (qmat_k.c, qmat_k_avx2.c). */
typedef enum KernQType { KERN_Q8_0 = 0, KERN_Q4_0 = 1, KERN_Q3 = 2, KERN_Q2 = 3, KERN_Q4_K = 4, KERN_Q6_K = 5 } KernQType;
size_t      kern_qtype_block_bytes(KernQType t);   /* 34, 18, 14, 10; a K type's superblock: 144, 210 */
const char *kern_qtype_name(KernQType t);          /* "q8_0", "q4_0", "q3", "q2", "q4_K", "q6_K" */
static inline int kern_qtype_is_k(KernQType t) { return t == KERN_Q4_K || t == KERN_Q6_K; }
KernQType   kern_qtype_for_bits(int bits);         /* 5..8 -> Q8_0, 4 -> Q4_0, 3 -> Q3, 2 -> Q2 */

typedef struct KernQMat {
    KernQType type;
    int N, K, nb;            /* outputs, inputs, blocks per row = ceil(K / 32) */
    const void *blocks;      /* [N][nb] blocks of `type`, or rows in the sb16 layout */
    const int8_t *zero;      /* [N][nb] zero-point per block (affine) or NULL (symmetric) */
    int sb16;                /* 1: the layout below (nb >= 16; zero-points stay in `zero`) */
} KernQMat;

/* The sb16 layout: the same codes and f16 scales as the blocks, arranged for the AVX-512 and
 * AVX2 kernels (qmat_avx512.c and qmat_avx2.c say why).  Row n starts at n *
 * kern_qmat_row_bytes(W) from a 64-byte aligned `blocks`.  A row's first nb / 16 * 16 blocks
 * form superblocks of 16 blocks, each 8 (Q8_0), 4 (Q4_0), 3 (Q3) or 2 (Q2) vectors of 64 bytes
 * of codes; the superblocks go in pairs, each pair's codes followed by its 2 x 16 f16 scales
 * (64 bytes), a last lone superblock by its 16 scales and 32 zero bytes.  Lane i (4 bytes) of
 * vector v holds block i's code bytes 4 sigma(v) .. + 3 of its GGUF block, sigma(v) = v / 2
 * (v even) or 4 + v / 2 (v odd) for Q8_0 (codes stored xor 0x80, i.e. q + 128) and
 * sigma(v) = v for Q4_0 (nibble bytes as in the block: code j low, code j + 16 high).  Q3 / Q2
 * hold u = q + 4 / q + 2 in bit planes: byte k of lane i of vector V (0, 1) has in bits 2 m,
 * 2 m + 1 the low 2 bits of code 4 sigma(4 V + m) + k, and Q3's vector 2 in bit w the high bit
 * of code 4 sigma(w) + k.  The other nb % 16 blocks (the tail) follow as GGUF blocks,
 * unchanged; the row is padded with zeros to 64 bytes.  Chosen by the loader only where
 * kern_qmat_sb16_wanted says the kernels that will run read it (the SIMD ones: AVX-512 with
 * VBMI for symmetric Q4_0 / Q8_0 rows with nb % 16 == 0, AVX2 for nb >= 16, affine rows and
 * Q3 / Q2 too; not when the environment sets QUANT_SB16=0); every path reads it correctly (the
 * others through kern_qmat_block_codes). */
int    kern_qmat_sb16_wanted(KernQType type, int K, int affine, KernIsa isa);
size_t kern_qmat_row_bytes(const KernQMat *W);  /* distance between rows in `blocks` */
/* One row of nb GGUF-order blocks -> the sb16 row at dst (kern_qmat_row_bytes bytes). */
void   kern_qmat_sb16_row(KernQType type, int nb, const void *blocks, uint8_t *dst);

/* Activations quantized for the integer path: every row of X[T, K] in blocks of 32 with an
 * f32 scale d = max|x| / 127 and codes round(x / d) (half to even, |q| <= 127, padded with 0).
 * Buffers are allocated once (kern_qact_init) for the largest T and K a model needs. */
typedef struct KernQAct {
    int max_T, max_nb;
    int T, K, nb;            /* the current contents */
    int8_t *q;               /* [T][nb * 32] codes */
    float *d;                /* [T][nb] scales */
    int32_t *s;              /* [T][nb] sum of a block's codes (affine weights) */
    int32_t *l;              /* [T][nb * 8] sums of 4 consecutive codes (the SIMD kernels' offsets) */
    /* Decode (T <= KERN_QACT_DOT_T): the same codes laid out for the AVX-512 row-dot kernels,
     * one token's work done once for all rows (qmat_avx512.c explains the orders); filled by
     * the scalar and AVX-512 quantizers, not by the AVX2 one (its kernels never read them). */
    int8_t *qp;              /* [T][nb * 32] codes, per 4 blocks: 16 low halves then 16 high halves */
    int32_t *c4;             /* [T][nb * 4] -8 (sum of codes j, j+1, j+2, j+3, j+16..j+19), j = 0, 4, 8, 12 */
    int32_t *c8;             /* [T][nb * 8] -128 l */
    float *d4;               /* [T][nb * 4] each block's scale 4 times */
    int8_t *q16;             /* [T][nb * 32] when nb >= 16 (any T): per 16 blocks, 8 vectors of 64 bytes,
                              * lane i of vector v = block i's codes 4 sigma(v) .. + 3 (sb16); the
                              * tail's nb % 16 blocks are not filled (the kernels read them from q) */
} KernQAct;
enum { KERN_QACT_DOT_T = 3 }; /* up to this many tokens: row dots; more: the tiled product */
void kern_qact_init(KernQAct *a, int max_T, int max_K);
void kern_qact_free(KernQAct *a);
size_t kern_qact_bytes(const KernQAct *a); /* what kern_qact_init allocated */
/* X[T, K] -> a; T <= max_T, K <= 32 * max_nb.  Scalar and deterministic (every ISA shares it). */
void kern_qact_quantize(KernQAct *a, const float *X, int T, int K);

/* w[N, K] = the reference dequantization d * (q - z) (what fp32 evaluation uses). */
void kern_qmat_dequant(const KernQMat *W, float *w);
/* Rows [n0, n1) of W dequantized into w[(n1 - n0), K]. */
void kern_qmat_dequant_rows(const KernQMat *W, int n0, int n1, float *w);
/* Integer path: Y[T, N] = sum over blocks of d_w d_x (sum_j (q_w - z) q_x) (int32 per block,
 * f32 across blocks) + b[N] (b may be NULL); x holds the quantized X[T, K].  Output rows are
 * split over the kernels' worker pool; a row is always summed by one thread in one order, so
 * Y does not depend on the thread count.  ISAs agree with the scalar reference to float
 * rounding (the int32 block sums are exact everywhere). */
void kern_qmat_linear(const KernQMat *W, const KernQAct *x, const float *b, float *Y, KernIsa isa);
/* n linears on the same input x (q, k, v; gate, up) in one hand-off to the pool (a hand-off
 * per KERN_QMAT_MULTI): Y[m] = x W[m]^T + b[m] (b or b[m] may be NULL), each exactly as
 * kern_qmat_linear. */
enum { KERN_QMAT_MULTI = 4 };
void kern_qmat_linear_n(int n, const KernQMat *const *W, const KernQAct *x, const float *const *b, float *const *Y,
                        KernIsa isa);
/* Llama's gated FFN hidden in one hand-off: H[T, N] = silu(x Wg^T + bg) * (x Wu^T + bu), U[T, N]
 * scratch (left holding the up products), Wg and Wu of one shape; and, when hq is not NULL
 * (hq->max_T >= T, 32 hq->max_nb >= N), H quantized into hq as the down linear's input.  The
 * same bits as kern_qmat_linear_n on the two, kern_swiglu_f32 and kern_qact_quantize.  Made for
 * decode: with many tokens its 32-wide pieces per tile cost more than one pass over H. */
void kern_qmat_swiglu(const KernQMat *Wg, const KernQMat *Wu, const KernQAct *x, const float *bg, const float *bu, float *H,
                      float *U, KernQAct *hq, KernIsa isa);
/* Starts a pool worker loading (up to `bytes` of) the rows it will take first in the next job
 * over these n linears (paired: kern_qmat_swiglu's two), while the caller computes alone; the
 * worker stops when the caller hands the pool anything.  Nothing changes but time; the
 * matrices must stay alive until that next job, or kern_async_stop(), returns. */
void kern_qmat_prefetch(int n, const KernQMat *const *W, int paired, size_t bytes);
/* Ends a prefetch still running (returns when it has). */
void kern_async_stop(void);
/* (isa: one this CPU runs, e.g. kern_isa_best(); the loader stores it in LlmModel.isa.) */

/* ------------------------------------------------------------ the worker pool */
/* Runs fn(arg, t) for t in [0, ntiles): on the kernels' worker threads plus the caller when
 * big != 0 and more than one thread is allowed (omp_get_max_threads()), else serially (also
 * inside an OpenMP parallel region).  Each thread takes a contiguous range of tiles first.
 * Tiles must be independent; the call returns when all are done (pool.c). */
typedef void (*KernTileFn)(void *arg, int tile);
void kern_parallel_tiles(int ntiles, KernTileFn fn, void *arg, int big);

/* ------------------------------------------------------------ element-wise, over the pool */
/* g[i] = silu(g[i]) u[i] (Llama's gated FFN), i < n. */
void kern_swiglu_f32(size_t n, float *g, const float *u);
/* x[i] += y[i], i < n (the residual). */
void kern_add_f32(size_t n, float *x, const float *y);

/* ------------------------------------------------------------ attention */
/* Causal attention of T new tokens at positions pos0 .. pos0 + T - 1 (decode: T small), H
 * query heads of hs over Hkv key/value heads (query head h reads kv head h / (H / Hkv)):
 * out[t, h] = softmax_i(q[t, h] . k[i, kvh] / sqrt(hs), i <= pos0 + t) v[i, kvh].  Rows: q
 * [T][ldq], k and v [pos0 + T][ldkv] (the cache, this token's rows included), out [T][ldo];
 * scratch: H (pos0 + T) floats.  Heads over the pool, each by one thread: the output does
 * not depend on the thread count. */
void kern_attention_f32(int T, int pos0, int H, int Hkv, int hs, const float *q, int ldq, const float *k, const float *v,
                        int ldkv, size_t kvh_stride, float *scratch, float *out, int ldo);

/* ------------------------------------------------------------ memory bandwidth */
/* Read bandwidth in bytes/s: `threads` POSIX threads (not the pool, not OpenMP: safe in a
 * forked child) each stream their slice of a `bytes` buffer (touched first), best of `reps`
 * passes.  The buffer should be well above the last-level cache. */
double kern_read_bandwidth(size_t bytes, int threads, int reps);
/* The same over a buffer allocated (and written) once, for measuring again and again without
 * mapping and unmapping a large buffer each time (membw.c). */
typedef struct KernReadBuf KernReadBuf;
KernReadBuf *kern_read_buf_new(size_t bytes, int threads);
double kern_read_buf_bandwidth(const KernReadBuf *b, int reps);
void kern_read_buf_free(KernReadBuf *b);

#endif
