/* kernels_internal.h — what the ISA-specific int8 kernels share (not public). */
#ifndef QUANT_KERNELS_INTERNAL_H
#define QUANT_KERNELS_INTERNAL_H

#include <string.h>

#include "quant/kernels.h"

/* Packed weights.  Layouts by ISA (N rounded up to the block, K up to kstep, pads are 0):
 *   scalar      W as given, [N, K] int8
 *   avx2        blocks of 8 outputs x pairs of k as int16: [N/8][K/2][8][2]
 *   avx512vnni  blocks of 16 outputs x quads of k as int8: [N/16][K/4][16][4] */
struct KernS8Weights {
    KernIsa isa;
    int N, K;        /* logical shape */
    int Np, Kp;      /* padded shape */
    void *data;      /* packed codes */
    int32_t *rowsum; /* [N] sum_k W[n,k] */
};

/* acc[M, N] = sum_k (X[m,k] - zero_x) * W[n,k] (+ bias[n]) — exact int32 */
void kern_acc_scalar(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W, const int32_t *bias,
                     int32_t *acc);
void kern_acc_avx2(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W, const int32_t *bias,
                   int32_t *acc);
/* AVX-512 VNNI: with rq, Y = requant(acc) fused (every 31 + rq->shift[n] must lie in
 * [1, 62]; kern_qlinear_s8 checks); without rq (NULL), the int32 acc[M, N] is written. */
void kern_qlinear_avx512(int M, const int8_t *X, int32_t zero_x, const KernS8Weights *W, const int32_t *bias,
                         const KernRequant *rq, int8_t *Y, int32_t *acc);
void kern_pack_avx2(KernS8Weights *w, const int8_t *W);
void kern_pack_avx512(KernS8Weights *w, const int8_t *W);

void kern_quantize_f32_s8_scalar(int64_t n, const float *x, float scale, int32_t zero, int32_t qmin, int32_t qmax,
                                 int8_t *y);
void kern_quantize_f32_s8_avx2(int64_t n, const float *x, float scale, int32_t zero, int32_t qmin, int32_t qmax,
                               int8_t *y);
void kern_quantize_f32_s8_avx512(int64_t n, const float *x, float scale, int32_t zero, int32_t qmin, int32_t qmax,
                                 int8_t *y);

/* Group-quantized linear (qmat.c): rows [n0, n1) of Y[T, N] (no bias) for every token of x.
 * Q8_0 / Q4_0 symmetric have the SIMD kernels of their own; Q3 / Q2 and affine rows a row dot
 * (qmat_simd.h), and in a prompt qmat.c first recodes them (kern_qmat_recode_avx2). */
enum { KERN_QMAT_TILE_ROWS = 32 }; /* rows per pool tile; n0 is a multiple of it */
void kern_qmat_rows_scalar(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y);
void kern_qmat_rows_avx2(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y);
void kern_qmat_rows_avx512(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y);
/* The same for KERN_Q4_K / KERN_Q6_K rows (qmat_k.c, qmat_k_avx2.c): row dots, any T. */
void kern_qmat_rows_k_scalar(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y);
void kern_qmat_rows_k_avx2(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y);
/* Rows [n0, n1) of W (Q3 / Q2, or any type with zero-points; GGUF block order, or sb16 for
 * Q3 / Q2) rewritten as
 * the rows of V (Q4_0 or Q8_0, symmetric, V->nb == W->nb, GGUF order or sb16 as V->sb16
 * says) at dst, kern_qmat_row_bytes(V) apart, 64-byte aligned: the same weights, codes c - z
 * under each block's f16 scale (a padded code 0 becomes -z, against activation codes 0).
 * Returns 0, dst partly written, when some c - z lies outside V's codes (Q4_0 [-8, 7], Q8_0
 * [-128, 127]).  So a prompt runs these widths on the Q4_0 / Q8_0 kernels (qmat.c). */
int kern_qmat_recode_avx2(const KernQMat *W, int n0, int n1, const KernQMat *V, uint8_t *dst);
/* AMX (amx.c, qmat_amx.c, qmat_amx_tile.h).  kern_amx_init decides once whether the tiles run
 * (call it on the caller's thread before a job that may use them); kern_amx_on says so, cheaply,
 * on any thread after that.  kern_qmat_amx_tokens: the tile kernel on the real instructions
 * (qmat_amx_tile.h's amx_tokens); kern_qmat_amx_selftest: 0 when it computed a fixed product
 * right. */
void kern_amx_init(void);
int kern_amx_on(void);
void kern_qmat_amx_tokens(const uint8_t *wu, const float *wd, int nbc, const KernQAct *x, int T16, int c0, int32_t o,
                          int first, float *Y, int N, int n, int rows);
int kern_qmat_amx_selftest(void);
/* fn() in a forked child that has `seconds` to finish (no malloc in fn: the parent may have
 * threads): 0 when it returned 0, 1 when it returned anything else, -signal when a signal ended
 * it, INT_MIN when no child could be run. */
int kern_run_in_child(int (*fn)(void), unsigned seconds);
/* Activation quantization (kern_qact_quantize) on a given ISA, and its AVX-512 and AVX2 rows:
 * token t's K values x into a's blocks q, d, s, l (and q16) with the scalar code's operations
 * (bit-identical). */
void kern_qact_quantize_isa(KernQAct *a, const float *X, int T, int K, KernIsa isa);
/* kern_swiglu_f32 on g [n], u [n] on this thread: the same bits, for a job's own part */
void kern_swiglu_span(float *g, const float *u, size_t n);

/* Blocks b0 .. b1 - 1 of token t's row x [K] (a->T, K, nb already set) */
void kern_qact_row_avx512(KernQAct *a, const float *x, int t, int K, int b0, int b1, int dot_layout);
void kern_qact_row_avx2(KernQAct *a, const float *x, int t, int K, int b0, int b1); /* q, d, s, l, q16; no decode orders */
/* The same for any ISA (the scalar loop when isa is KERN_ISA_SCALAR): what kern_qact_quantize
 * writes for these blocks, so a job may quantize its own blocks of an output as it makes them */
void kern_qact_blocks(KernQAct *a, const float *x, int t, int b0, int b1, KernIsa isa);
/* The 32 codes (padding included) and the f32 scale of block b of row n. */
void kern_qmat_block_codes(const KernQMat *W, int64_t n, int64_t b, int8_t c[32], float *d);
/* The sb16 layout (kernels.h): which 4 code bytes of its block lane i of vector v holds
 * (Q8_0, Q3 / Q2's planes, and q16's activations for every type), where superblock s of a row
 * of ns keeps its codes and its 16 f16 scales (a pair of superblocks' codes, then their
 * scales), and where the tail begins. */
static inline int kern_sb16_sigma(int v) { return v % 2 ? 4 + v / 2 : v / 2; }
/* Bytes of codes in a superblock: 8, 4, 3 or 2 vectors of 64 (Q8_0, Q4_0, Q3, Q2). */
static inline size_t kern_sb16_codes(KernQType t) {
    return 64 * (size_t)(t == KERN_Q8_0 ? 8 : t == KERN_Q4_0 ? 4 : t == KERN_Q3 ? 3 : 2);
}
/* Bytes of a row's ns superblocks (codes and scales): where its tail of GGUF blocks starts. */
static inline size_t kern_sb16_head(KernQType t, int ns) {
    const size_t C = kern_sb16_codes(t);
    return (size_t)(ns / 2) * (2 * C + 64) + (size_t)(ns % 2) * (C + 64);
}
static inline void kern_sb16_at(KernQType t, int ns, int s, size_t *codes, size_t *scales) {
    const size_t C = kern_sb16_codes(t), pair = (size_t)(s / 2) * (2 * C + 64);
    *codes = pair + (size_t)(s % 2) * C;
    *scales = pair + (s / 2 * 2 + 1 < ns ? 2 : 1) * C + 32 * (size_t)(s % 2);
}

/* A Q3 / Q2 block of a whole superblock into its sb16 planes (qmat.c): kern_sb16_put's work
 * for those types. */
void kern_sb16_put_low(KernQType t, int nb, int b, const uint8_t *blk, uint8_t *row);
/* Block b (its GGUF bytes, kern_qtype_block_bytes of them) of a row of nb blocks in the sb16
 * layout, every type. */
void kern_sb16_get(KernQType t, int nb, const uint8_t *row, int b, uint8_t *blk);

/* Block b (its GGUF bytes: f16 scale, then the codes as stored) of a row of nb blocks, put
 * where the row's sb16 form keeps it (kernels.h): Q4_0 / Q8_0 code dwords into the
 * superblock's vectors (Q8_0's xor 0x80), Q3 / Q2 codes into their planes, and its scale
 * beside them, or, in the tail, the block as it is.  The one writer of the layout
 * (kern_qmat_sb16_row, kern_qmat_recode_avx2). */
static inline void kern_sb16_put(KernQType t, int nb, int b, const uint8_t *blk, uint8_t *row) {
    const int full = nb / 16 * 16, q4 = t == KERN_Q4_0;
    if (b >= full) {
        const size_t bs = kern_qtype_block_bytes(t);
        memcpy(row + kern_sb16_head(t, nb / 16) + (size_t)(b - full) * bs, blk, bs);
        return;
    }
    if (t == KERN_Q3 || t == KERN_Q2) {
        kern_sb16_put_low(t, nb, b, blk, row);
        return;
    }
    size_t codes, scales;
    kern_sb16_at(t, nb / 16, b / 16, &codes, &scales);
    for (int v = 0; v < (q4 ? 4 : 8); v++) {
        uint32_t w;
        memcpy(&w, blk + 2 + 4 * (q4 ? v : kern_sb16_sigma(v)), 4);
        if (!q4) w ^= 0x80808080u;
        memcpy(row + codes + 64 * v + 4 * (b % 16), &w, 4);
    }
    memcpy(row + scales + 2 * (b % 16), blk, 2);
}

/* fn(arg copy, 0) on one pool worker while the caller goes on (nothing when there is no
 * worker, or another job is being posted).  For work that only helps, such as loading the next
 * job's weights while the caller computes alone: fn polls kern_async_superseded() and returns
 * once the caller has posted anything else or called kern_async_stop.  What fn reads must stay
 * valid until a job handed to the pool (kern_parallel_tiles on more than one thread) returns
 * or kern_async_stop() does: both wait for it to end. */
enum { KERN_ASYNC_ARG_MAX = 64 };
void kern_parallel_async(KernTileFn fn, const void *arg, size_t size);
int kern_async_superseded(void);
/* The first tile of worker w's range in a kern_parallel_tiles job of ntiles tiles (ntiles if
 * w takes no part) */
int kern_pool_first_tile(int ntiles, int worker);

/* A buffer of at least `bytes`, 64-byte aligned, kept per thread and per slot between calls
 * (pool.c): kernels that need scratch inside a pool tile take it here, so a token allocates
 * nothing once the largest shape has been seen (and a fresh buffer's pages are not faulted in
 * again on every product). */
enum { KERN_SCRATCH_GEMM = 0, KERN_SCRATCH_RECODE = 1, KERN_SCRATCH_RECODE_Y = 2, KERN_SCRATCH_SLOTS = 3 };
void *kern_thread_scratch(int slot, size_t bytes);

/* Which clones the fp32 attention and element-wise steps run (eltwise.c; decided once): 2 the
 * AVX-512 ones (the CPU has AVX-512F and QUANT_ISA does not cap the kernels below AVX-512),
 * 1 the AVX2 ones (the kernels' ISA is at least AVX2, which includes FMA), 0 the baseline. */
int kern_f32_level(void);

/* XOR of a buffer read front to back (membw.c): the streaming read of the bandwidth probe. */
uint64_t kern_read_sum_scalar(const uint8_t *p, size_t n);
uint64_t kern_read_sum_avx2(const uint8_t *p, size_t n);

/* fp32 GEMM micro-kernels (gemm_f32*.c).  Ap: an MR-row sliver of op(A) packed [kc][MR];
 * Bp: an NR-column sliver of op(B) packed [kc][NR] (zero-padded).  The kernel sums k in
 * order 0..kc-1 into registers, then C[i,j] = alpha * acc + beta * C[i,j] for i < m, j < n
 * (beta == 0: C not read).  m <= MR, n <= NR. */
typedef void (*KernGemmUkr)(int kc, const float *Ap, const float *Bp, float *C, int ldc, float alpha, float beta,
                            int m, int n);
/* Small-M products against a weight matrix B[N, K] (op(B) = B^T, op(A) = A[M, K]):
 * C[m,n] = alpha * dot(A[m,:], B[n,:]) + beta * C[m,n] for m < M <= 4, n in [n0, n1),
 * without packing (decode: the weights are read once, straight from memory). */
typedef void (*KernGemmDots)(int M, int n0, int n1, int K, float alpha, const float *A, int lda, const float *B,
                             int ldb, float beta, float *C, int ldc);
enum { KERN_GEMM_DOTS_MAX_M = 4 };
void kern_sgemm_ukr_scalar(int kc, const float *Ap, const float *Bp, float *C, int ldc, float alpha, float beta,
                           int m, int n);
void kern_sgemm_ukr_avx2(int kc, const float *Ap, const float *Bp, float *C, int ldc, float alpha, float beta, int m,
                         int n);
void kern_sgemm_ukr_avx512(int kc, const float *Ap, const float *Bp, float *C, int ldc, float alpha, float beta,
                           int m, int n);
void kern_sgemm_dots_scalar(int M, int n0, int n1, int K, float alpha, const float *A, int lda, const float *B,
                            int ldb, float beta, float *C, int ldc);
void kern_sgemm_dots_avx2(int M, int n0, int n1, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                          float beta, float *C, int ldc);
void kern_sgemm_dots_avx512(int M, int n0, int n1, int K, float alpha, const float *A, int lda, const float *B,
                            int ldb, float beta, float *C, int ldc);
/* y[n] = x . W[n] + beta y[n], rows [n0, n1) of W[., K]. */
void kern_gemv_rows_avx512(int n0, int n1, int K, const float *x, const float *W, float beta, float *y);
/* An NR-column sliver of op(B) = B^T (B[n, k] row-major, the weights of a linear layer):
 * dst[k][c] = B[c * ldb + k] for c < nr, k < kc, 0 for c >= nr.  16 x 16 register
 * transposes instead of NR strided stores per k. */
void kern_sgemm_pack_bt_avx512(const float *B, int ldb, int nr, int kc, float *dst);
/* register tiles (MR x NR) of each ISA's micro-kernel */
enum { KERN_GEMM_MR_SCALAR = 4, KERN_GEMM_NR_SCALAR = 8 };
enum { KERN_GEMM_MR_AVX2 = 6, KERN_GEMM_NR_AVX2 = 16 };
enum { KERN_GEMM_MR_AVX512 = 12, KERN_GEMM_NR_AVX512 = 32 };

#endif
