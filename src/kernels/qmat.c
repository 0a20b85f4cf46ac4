/* qmat.c — group-quantized linear layers on packed blocks (kernels.h): activation
 * quantization, the reference dequantizer, the scalar integer kernel (the reference the SIMD
 * kernels are tested against) and the driver that splits output rows over the worker pool. */
#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"
#include "quant/core.h"
#include "quant/qblock.h"

size_t kern_qtype_block_bytes(KernQType t) {
    switch (t) {
        case KERN_Q8_0: return sizeof(QBlockQ8_0);
        case KERN_Q4_0: return sizeof(QBlockQ4_0);
        case KERN_Q3: return sizeof(QBlockQ3);
        case KERN_Q4_K: return qblock_k_bytes(QBLOCK_Q4_K);
        case KERN_Q6_K: return qblock_k_bytes(QBLOCK_Q6_K);
        default: return sizeof(QBlockQ2);
    }
}

const char *kern_qtype_name(KernQType t) {
    static const char *names[] = {"q8_0", "q4_0", "q3", "q2", "q4_K", "q6_K"};
    return names[t];
}

/* ------------------------------------------------------------ the sb16 layout (kernels.h) */

int kern_qmat_sb16_wanted(KernQType type, int K, int affine, KernIsa isa) {
    /* the AVX-512 and AVX2 kernels read it (qmat_avx512.c, qmat_avx2.c); the scalar one
     * through kern_qmat_block_codes, slowly.  The AVX-512 kernels (with VBMI) take whole
     * superblocks of symmetric Q4_0 / Q8_0 rows only; the AVX2 ones also a tail of GGUF
     * blocks, zero-points and Q3 / Q2 (an AVX-512 machine hands those rows to them).
     * QUANT_SB16=0 keeps the GGUF order (tests that set the layouts side by side, benchmarks). */
    const char *env = getenv("QUANT_SB16");
    if (env && strcmp(env, "0") == 0) return 0;
    if (K <= 0 || isa == KERN_ISA_SCALAR || kern_qtype_is_k(type)) return 0;
    const int64_t nb = qblock_count(K);
    if (isa == KERN_ISA_AVX512VNNI && __builtin_cpu_supports("avx512vbmi") && !affine && (type == KERN_Q4_0 || type == KERN_Q8_0))
        return nb % 16 == 0;
    return nb >= 16;
}

size_t kern_qmat_row_bytes(const KernQMat *W) {
    const size_t bs = kern_qtype_block_bytes(W->type);
    if (kern_qtype_is_k(W->type)) return (size_t)(W->K / QK_K) * bs;
    if (!W->sb16) return (size_t)W->nb * bs;
    return (kern_sb16_head(W->type, W->nb / 16) + (size_t)(W->nb % 16) * bs + 63) / 64 * 64;
}

void kern_qmat_sb16_row(KernQType type, int nb, const void *blocks, uint8_t *dst) {
    const KernQMat W = {type, 1, nb * QK, nb, NULL, NULL, 1};
    const size_t bs = kern_qtype_block_bytes(type);
    memset(dst, 0, kern_qmat_row_bytes(&W));
    for (int b = 0; b < nb; b++) kern_sb16_put(type, nb, b, (const uint8_t *)blocks + (size_t)b * bs, dst);
}

/* Q3 / Q2 in sb16 (kernels.h): a block's unsigned codes u = c + 4 (Q3) or c + 2 (Q2) as two
 * 2-bit planes, lo vector V (0, 1) byte 4 i + k bits 2 m, 2 m + 1 = u & 3 of code
 * 4 sigma(4 V + m) + k, and for Q3 a 1-bit plane, vector 2 byte 4 i + k bit w = u >> 2 of code
 * 4 sigma(w) + k: shifted and masked, each of the 8 (V, m) or w gives the codes of q16's
 * vector 4 V + m or w, lane for lane (qmat_avx2.c). */
static int sb16_code(int V, int m, int k) { return 4 * kern_sb16_sigma(4 * V + m) + k; }

/* The 32 codes c (u - o) of block b (of a whole superblock) of a Q3 / Q2 sb16 row, and its f16
 * scale. */
static uint16_t sb16_low_block(KernQType t, int nb, const uint8_t *row, int b, int8_t c[QK]) {
    const int o = t == KERN_Q3 ? 4 : 2;
    size_t codes, scales;
    kern_sb16_at(t, nb / 16, b / 16, &codes, &scales);
    const uint8_t *lane = row + codes + 4 * (b % 16);
    uint16_t d;
    memcpy(&d, row + scales + 2 * (b % 16), 2);
    for (int k = 0; k < 4; k++) {
        for (int V = 0; V < 2; V++)
            for (int m = 0; m < 4; m++) c[sb16_code(V, m, k)] = (int8_t)((lane[64 * V + k] >> (2 * m)) & 3);
        if (t == KERN_Q3)
            for (int w = 0; w < 8; w++) c[4 * kern_sb16_sigma(w) + k] |= (int8_t)(((lane[128 + k] >> w) & 1) << 2);
    }
    for (int j = 0; j < QK; j++) c[j] = (int8_t)(c[j] - o);
    return d;
}

void kern_sb16_put_low(KernQType t, int nb, int b, const uint8_t *blk, uint8_t *row) {
    int8_t c[QK];
    if (t == KERN_Q3) qblock_q3_unpack((const QBlockQ3 *)blk, c);
    else qblock_q2_unpack((const QBlockQ2 *)blk, c);
    const int o = t == KERN_Q3 ? 4 : 2;
    size_t codes, scales;
    kern_sb16_at(t, nb / 16, b / 16, &codes, &scales);
    uint8_t *lane = row + codes + 4 * (b % 16);
    for (int k = 0; k < 4; k++) {
        for (int V = 0; V < 2; V++) {
            uint8_t byte = 0;
            for (int m = 0; m < 4; m++) byte |= (uint8_t)(((c[sb16_code(V, m, k)] + o) & 3) << (2 * m));
            lane[64 * V + k] = byte;
        }
        if (t == KERN_Q3) {
            uint8_t byte = 0;
            for (int w = 0; w < 8; w++) byte |= (uint8_t)(((c[4 * kern_sb16_sigma(w) + k] + o) >> 2) << w);
            lane[128 + k] = byte;
        }
    }
    memcpy(row + scales + 2 * (b % 16), blk, 2);
}

void kern_sb16_get(KernQType t, int nb, const uint8_t *row, int b, uint8_t *blk) {
    const int q4 = t == KERN_Q4_0, full = nb / 16 * 16;
    const size_t bs = kern_qtype_block_bytes(t);
    if (b >= full) {
        memcpy(blk, row + kern_sb16_head(t, nb / 16) + (size_t)(b - full) * bs, bs);
        return;
    }
    if (t == KERN_Q3 || t == KERN_Q2) {
        int8_t c[QK];
        const uint16_t d = sb16_low_block(t, nb, row, b, c);
        if (t == KERN_Q3) qblock_q3_pack(c, QK, d, (QBlockQ3 *)blk);
        else qblock_q2_pack(c, QK, d, (QBlockQ2 *)blk);
        return;
    }
    size_t codes, scales;
    kern_sb16_at(t, nb / 16, b / 16, &codes, &scales);
    const uint8_t *lane = row + codes + 4 * (b % 16);
    memcpy(blk, row + scales + 2 * (b % 16), 2);
    for (int v = 0; v < (q4 ? 4 : 8); v++)
        for (int k = 0; k < 4; k++) {
            uint8_t c = lane[64 * v + k];
            blk[2 + 4 * (q4 ? v : kern_sb16_sigma(v)) + k] = q4 ? c : (uint8_t)(c ^ 0x80);
        }
}

KernQType kern_qtype_for_bits(int bits) {
    return bits >= 5 ? KERN_Q8_0 : bits == 4 ? KERN_Q4_0 : bits == 3 ? KERN_Q3 : KERN_Q2;
}

void kern_qact_init(KernQAct *a, int max_T, int max_K) {
    memset(a, 0, sizeof *a);
    a->max_T = max_T;
    a->max_nb = (int)qblock_count(max_K);
    size_t nbt = (size_t)max_T * a->max_nb;
    a->q = xmalloc64(nbt * QK);
    a->d = xmalloc64(nbt * sizeof(float));
    a->s = xmalloc64(nbt * sizeof(int32_t));
    a->l = xmalloc64(nbt * 8 * sizeof(int32_t));
    size_t nbd = (size_t)(max_T < KERN_QACT_DOT_T ? max_T : KERN_QACT_DOT_T) * a->max_nb;
    a->qp = xmalloc64(nbd * QK);
    a->c4 = xmalloc64(nbd * 4 * sizeof(int32_t));
    a->c8 = xmalloc64(nbd * 8 * sizeof(int32_t));
    a->d4 = xmalloc64(nbd * 4 * sizeof(float));
    a->q16 = xmalloc64(nbt * QK);
}

size_t kern_qact_bytes(const KernQAct *a) {
    size_t nbt = (size_t)a->max_T * a->max_nb;
    size_t nbd = (size_t)(a->max_T < KERN_QACT_DOT_T ? a->max_T : KERN_QACT_DOT_T) * a->max_nb;
    return nbt * (QK + sizeof(float) + sizeof(int32_t) + 8 * sizeof(int32_t) + QK) +
           nbd * (QK + 4 * sizeof(int32_t) + 8 * sizeof(int32_t) + 4 * sizeof(float));
}

void kern_qact_free(KernQAct *a) {
    free(a->q);
    free(a->d);
    free(a->s);
    free(a->l);
    free(a->qp);
    free(a->c4);
    free(a->c8);
    free(a->d4);
    free(a->q16);
    memset(a, 0, sizeof *a);
}

/* Token t's block b again in the orders of the AVX-512 decode kernels (qmat_avx512.c): for every
 * 4 blocks b0..b3, qp holds b0..b3's codes 0-15 then b0..b3's codes 16-31, so that one 64-byte
 * load of low nibbles and one of high nibbles meet their activations; c4 / c8 are the exact
 * offsets of the unsigned weights (stored nibble = q + 8, Q8_0 code xor 0x80 = q + 128) per
 * int32 lane; d4 the scales repeated per lane.  Blocks past the last full 4 keep the
 * plain order (the kernels take them one at a time from q and l). */
static void qact_dot_layout(KernQAct *a, int t, int b) {
    const int nb = a->nb;
    const int8_t *q = a->q + (size_t)t * nb * QK;
    const int32_t *l = a->l + (size_t)t * nb * 8;
    int8_t *qp = a->qp + (size_t)t * nb * QK;
    int32_t *c4 = a->c4 + (size_t)t * nb * 4, *c8 = a->c8 + (size_t)t * nb * 8;
    float *d4 = a->d4 + (size_t)t * nb * 4;
    const float *d = a->d + (size_t)t * nb;
    int quad = b / 4 * 4, i = b % 4;
    if (quad + 4 <= nb)
        for (int j = 0; j < QK; j++) qp[(size_t)quad * QK + (j < 16 ? 16 * i + j : 64 + 16 * i + j - 16)] = q[(size_t)b * QK + j];
    else
        memcpy(qp + (size_t)b * QK, q + (size_t)b * QK, QK);
    for (int p = 0; p < 4; p++) c4[4 * b + p] = -8 * (l[8 * b + p] + l[8 * b + p + 4]);
    for (int p = 0; p < 8; p++) c8[8 * b + p] = -128 * l[8 * b + p];
    for (int p = 0; p < 4; p++) d4[4 * b + p] = d[b];
}

/* Token t's block b in the sb16 order (kernels.h KernQAct.q16), for every T (the AVX2 kernels
 * read it in prompts too), the blocks of whole superblocks only. */
static void qact_q16(KernQAct *a, int t, int b) {
    const int nb = a->nb;
    if (b >= nb / 16 * 16) return;
    const int8_t *q = a->q + (size_t)t * nb * QK;
    int8_t *q16 = a->q16 + (size_t)t * nb * QK;
    for (int v = 0; v < 8; v++)
        memcpy(q16 + (size_t)(b / 16) * 512 + 64 * v + 4 * (b % 16), q + (size_t)b * QK + 4 * kern_sb16_sigma(v), 4);
}

void kern_qact_quantize(KernQAct *a, const float *X, int T, int K) {
    kern_qact_quantize_isa(a, X, T, K, kern_isa_best());
}

/* Blocks b0 .. b1 - 1 of token t, x its row (and the decode orders when a holds few tokens). */
void kern_qact_blocks(KernQAct *a, const float *x, int t, int b0, int b1, KernIsa isa) {
    const int K = a->K, nb = a->nb, T = a->T;
    if (isa == KERN_ISA_AVX512VNNI) { /* the same IEEE operations 16 at a time: same bits */
        kern_qact_row_avx512(a, x, t, K, b0, b1, T <= KERN_QACT_DOT_T);
        return;
    }
    if (isa == KERN_ISA_AVX2) { /* 8 at a time, same bits; AVX2 kernels never read the decode orders */
        kern_qact_row_avx2(a, x, t, K, b0, b1);
        return;
    }
    for (int b = b0; b < b1; b++) {
        int n = K - b * QK < QK ? K - b * QK : QK;
        float amax = 0;
        for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[b * QK + j]));
        float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        int8_t *q = a->q + ((size_t)t * nb + b) * QK;
        int32_t s = 0;
        for (int j = 0; j < QK; j++) {
            float v = j < n ? x[b * QK + j] * id : 0.0f;
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v; /* rounding may reach 127.00001 */
            v = (v + 12582912.0f) - 12582912.0f;                 /* round half to even */
            q[j] = (int8_t)v;
            s += q[j];
        }
        a->d[(size_t)t * nb + b] = d;
        a->s[(size_t)t * nb + b] = s;
        int32_t *l = a->l + ((size_t)t * nb + b) * 8;
        for (int i = 0; i < 8; i++) l[i] = q[4 * i] + q[4 * i + 1] + q[4 * i + 2] + q[4 * i + 3];
        if (T <= KERN_QACT_DOT_T) qact_dot_layout(a, t, b);
        qact_q16(a, t, b);
    }
}

typedef struct QactJob {
    KernQAct *a;
    const float *X;
    KernIsa isa;
} QactJob;

static void qact_tile(void *arg, int i) {
    const QactJob *j = arg;
    for (int t = i * 8; t < j->a->T && t < i * 8 + 8; t++) kern_qact_blocks(j->a, j->X + (size_t)t * j->a->K, t, 0, j->a->nb, j->isa);
}

void kern_qact_quantize_isa(KernQAct *a, const float *X, int T, int K, KernIsa isa) {
    a->T = T;
    a->K = K;
    a->nb = (int)qblock_count(K);
    /* tokens are independent: a prompt's go over the pool, 8 to a tile */
    QactJob j = {a, X, isa};
    kern_parallel_tiles((T + 7) / 8, qact_tile, &j, (int64_t)T * K >= (1 << 16));
}

/* The 32 codes of block b of row n and its scale. */
void kern_qmat_block_codes(const KernQMat *W, int64_t n, int64_t b, int8_t c[QK], float *d) {
    const uint8_t *p = (const uint8_t *)W->blocks + ((size_t)n * W->nb + b) * kern_qtype_block_bytes(W->type);
    uint8_t tmp[sizeof(QBlockQ8_0)];
    if (W->sb16) {
        const uint8_t *row = (const uint8_t *)W->blocks + (size_t)n * kern_qmat_row_bytes(W);
        if ((W->type == KERN_Q3 || W->type == KERN_Q2) && b < W->nb / 16 * 16) { /* the planes' codes as they are */
            *d = qf16_to_f32(sb16_low_block(W->type, W->nb, row, (int)b, c));
            return;
        }
        kern_sb16_get(W->type, W->nb, row, (int)b, tmp);
        p = tmp;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    *d = qf16_to_f32(h);
    switch (W->type) {
        case KERN_Q8_0: qblock_q8_0_unpack((const QBlockQ8_0 *)p, c); break;
        case KERN_Q4_0: qblock_q4_0_unpack((const QBlockQ4_0 *)p, c); break;
        case KERN_Q3: qblock_q3_unpack((const QBlockQ3 *)p, c); break;
        default: qblock_q2_unpack((const QBlockQ2 *)p, c); break;
    }
}

void kern_qmat_dequant_rows(const KernQMat *W, int n0, int n1, float *w) {
    if (kern_qtype_is_k(W->type)) {
        for (int64_t n = n0; n < n1; n++)
            qblock_k_dequant(W->type == KERN_Q4_K ? QBLOCK_Q4_K : QBLOCK_Q6_K,
                             (const uint8_t *)W->blocks + (size_t)n * kern_qmat_row_bytes(W), W->K, w + (size_t)(n - n0) * W->K);
        return;
    }
    int8_t c[QK];
    float d;
    for (int64_t n = n0; n < n1; n++) {
        float *row = w + (size_t)(n - n0) * W->K;
        for (int64_t b = 0; b < W->nb; b++) {
            kern_qmat_block_codes(W, n, b, c, &d);
            int32_t z = W->zero ? W->zero[(size_t)n * W->nb + b] : 0;
            for (int64_t j = 0; j < QK && b * QK + j < W->K; j++) row[b * QK + j] = d * (float)(c[j] - z);
        }
    }
}

void kern_qmat_dequant(const KernQMat *W, float *w) { kern_qmat_dequant_rows(W, 0, W->N, w); }

/* The scalar reference: per block the exact int32 sum_j (q_w - z) q_x, then
 * acc += (d_w d_x) * sum in f32, blocks in order. */
void kern_qmat_rows_scalar(const KernQMat *W, const KernQAct *x, int n0, int n1, float *Y) {
    if (kern_qtype_is_k(W->type)) {
        kern_qmat_rows_k_scalar(W, x, n0, n1, Y);
        return;
    }
    int8_t c[QK];
    float d;
    for (int n = n0; n < n1; n++)
        for (int t = 0; t < x->T; t++) {
            float acc = 0;
            for (int b = 0; b < W->nb; b++) {
                kern_qmat_block_codes(W, n, b, c, &d);
                const int8_t *q = x->q + ((size_t)t * x->nb + b) * QK;
                int32_t s = 0;
                for (int j = 0; j < QK; j++) s += c[j] * q[j];
                if (W->zero) s -= W->zero[(size_t)n * W->nb + b] * x->s[(size_t)t * x->nb + b];
                /* separate statements: no compiler may fuse them into an FMA (clang contracts
                 * within an expression), so every ISA's general path can match bit for bit */
                float dd = d * x->d[(size_t)t * x->nb + b], term = dd * (float)s;
                acc += term;
            }
            Y[(size_t)t * W->N + n] = acc;
        }
}

/* One pool job over the tiles of up to KERN_QMAT_MULTI linears in turn (tile i of the job is
 * tile i - first[m] of linear m). */
typedef struct Job {
    const KernQMat *W[KERN_QMAT_MULTI];
    const float *b[KERN_QMAT_MULTI];
    float *Y[KERN_QMAT_MULTI];
    int first[KERN_QMAT_MULTI + 1]; /* the job's first tile of each linear; first[n] = all tiles */
    const KernQAct *x;
    int rows;         /* rows per tile */
    KernIsa isa;
    int vbmi;         /* the CPU has AVX-512 VBMI */
} Job;

/* Rows [n0, n1) of Y on the job's ISA (AVX-512's Q4_0 / Q8_0 kernels gather bytes with VBMI's
 * vpermb; without it the AVX2 ones run). */
static void rows_isa(const Job *j, const KernQMat *W, int n0, int n1, float *Y) {
    if (kern_qtype_is_k(W->type) && j->isa != KERN_ISA_SCALAR) { /* AVX2's row dots on AVX-512 machines too */
        kern_qmat_rows_k_avx2(W, j->x, n0, n1, Y);
        return;
    }
    switch (j->isa) {
        case KERN_ISA_AVX512VNNI:
            if (j->vbmi) kern_qmat_rows_avx512(W, j->x, n0, n1, Y);
            else kern_qmat_rows_avx2(W, j->x, n0, n1, Y);
            break;
        case KERN_ISA_AVX2: kern_qmat_rows_avx2(W, j->x, n0, n1, Y); break;
        default: kern_qmat_rows_scalar(W, j->x, n0, n1, Y); break;
    }
}

/* A prompt on Q3 / Q2 or affine rows in the GGUF block order.  Their row dot unpacks every
 * block once per token (a general path that also summed each block alone made a 128-token
 * prompt through a Q3 linear 3.7-5x slower than fp32 BLAS).  Here the tile's rows are recoded
 * once into Q4_0 (Q3 / Q2, codes c - z within [-8, 7]) or Q8_0 blocks of the same weights, in
 * the sb16 layout where the ISA's kernels read it, and the Q4_0 / Q8_0 kernels run on them: the
 * same exact int32 block sums, summed across blocks in those kernels' order.  0 (nothing
 * written to Y) if some c - z fits neither: the row dot runs instead. */
static int tile_recoded(const Job *j, const KernQMat *W, int n0, int n1, float *Y) {
    const KernIsa isa = j->isa == KERN_ISA_AVX512VNNI && !j->vbmi ? KERN_ISA_AVX2 : j->isa;
    const int rows = n1 - n0, T = j->x->T;
    KernQMat V = {W->type == KERN_Q3 || W->type == KERN_Q2 ? KERN_Q4_0 : KERN_Q8_0, rows, W->K, W->nb, NULL, NULL, 0};
    for (;;) {
        /* from Q3 / Q2 sb16 rows always sb16 (their superblocks recode directly; with a tail
         * after them, an AVX-512 machine runs V on the AVX2 kernels) */
        V.sb16 = W->sb16 || kern_qmat_sb16_wanted(V.type, W->K, 0, isa);
        uint8_t *buf = kern_thread_scratch(KERN_SCRATCH_RECODE, kern_qmat_row_bytes(&V) * (size_t)rows);
        if (kern_qmat_recode_avx2(W, n0, n1, &V, buf)) {
            V.blocks = buf;
            break;
        }
        if (V.type == KERN_Q8_0) return 0;
        V.type = KERN_Q8_0;
    }
    float *y = kern_thread_scratch(KERN_SCRATCH_RECODE_Y, sizeof(float) * (size_t)T * rows); /* [T][rows] */
    rows_isa(j, &V, 0, rows, y);
    for (int t = 0; t < T; t++) memcpy(Y + (size_t)t * W->N + n0, y + (size_t)t * rows, sizeof(float) * rows);
    return 1;
}

/* Rows [n0, n1) of linear W into Y, bias b added (b may be NULL). */
static void tile_rows(const Job *j, const KernQMat *W, const float *b, float *Y, int n0, int n1) {
    const int general = !kern_qtype_is_k(W->type) && ((W->zero && !W->sb16) || (W->type != KERN_Q4_0 && W->type != KERN_Q8_0));
    if (!(general && j->isa != KERN_ISA_SCALAR && j->x->T > KERN_QACT_DOT_T && tile_recoded(j, W, n0, n1, Y)))
        rows_isa(j, W, n0, n1, Y);
    if (b)
        for (int t = 0; t < j->x->T; t++)
            for (int n = n0; n < n1; n++) Y[(size_t)t * W->N + n] += b[n];
}

/* first[m] = the first tile of linear m in a job over n linears (first[n]: all its tiles);
 * returns the job's work per token, sum N K. */
static int64_t job_tiles(int n, const KernQMat *const *W, int first[KERN_QMAT_MULTI + 1]) {
    int64_t work = 0;
    first[0] = 0;
    for (int m = 0; m < n; m++) {
        first[m + 1] = first[m] + (W[m]->N + KERN_QMAT_TILE_ROWS - 1) / KERN_QMAT_TILE_ROWS;
        work += (int64_t)W[m]->N * W[m]->K;
    }
    return work;
}

/* Whether a job of this much work (multiply-adds) goes to the pool; smaller ones run on the
 * caller alone. */
static int job_big(int64_t work) { return work > (1 << 18); }

static void tile(void *arg, int i) {
    const Job *j = arg;
    int m = 0;
    while (i >= j->first[m + 1]) m++;
    const KernQMat *W = j->W[m];
    const int n0 = (i - j->first[m]) * j->rows, n1 = n0 + j->rows < W->N ? n0 + j->rows : W->N;
    tile_rows(j, W, j->b[m], j->Y[m], n0, n1);
}

static int cpu_vbmi(void) {
    static _Atomic int vbmi = -1;
    if (vbmi < 0) {
        __builtin_cpu_init();
        vbmi = __builtin_cpu_supports("avx512vbmi") != 0;
    }
    return vbmi;
}

/* Before a job whose AVX-512 prompt tiles may go to AMX (16 tokens and more): the once-only
 * decision (amx.c), on the caller's thread, before the pool runs, since it may fork. */
static void amx_prepare(KernIsa isa, const KernQAct *x) {
    if (isa == KERN_ISA_AVX512VNNI && x->T >= 16) kern_amx_init();
}

void kern_qmat_linear_n(int n, const KernQMat *const *W, const KernQAct *x, const float *const *b, float *const *Y,
                        KernIsa isa) {
    /* Tiles of 32 rows: fine enough that a busy core costs little (a decode tile of a
     * 2048-wide Q4_0 row block is 37 KB), and the width of the AVX-512 prompt kernel's tile. */
    if (n > KERN_QMAT_MULTI) { /* more than a job holds: the rest in a job of its own */
        kern_qmat_linear_n(n - KERN_QMAT_MULTI, W + KERN_QMAT_MULTI, x, b ? b + KERN_QMAT_MULTI : NULL, Y + KERN_QMAT_MULTI, isa);
        n = KERN_QMAT_MULTI;
    }
    Job j = {.x = x, .rows = KERN_QMAT_TILE_ROWS, .isa = isa, .vbmi = cpu_vbmi()};
    amx_prepare(isa, x);
    for (int m = 0; m < n; m++) {
        j.W[m] = W[m];
        j.b[m] = b ? b[m] : NULL;
        j.Y[m] = Y[m];
    }
    const int64_t work = job_tiles(n, W, j.first) * x->T;
    kern_parallel_tiles(j.first[n], tile, &j, job_big(work));
}

void kern_qmat_linear(const KernQMat *W, const KernQAct *x, const float *b, float *Y, KernIsa isa) {
    kern_qmat_linear_n(1, &W, x, &b, &Y, isa);
}

/* The gated FFN in one job (kernels.h).  A tile makes its 32 rows of the gate's and the up's
 * products, combines them, and quantizes the one activation block they form (KERN_QMAT_TILE_ROWS
 * = QK: tile i is block i of each token's hidden row).  Separately, the SwiGLU and the
 * quantizing ran on the caller after the job, over products half of which the other core had
 * just written: 20 us a layer of a W4 1.1B decode step (5632 wide), the bus idle meanwhile;
 * alone on hot data the SwiGLU takes 5 us.  Every element and block is computed by the same
 * operations as kern_swiglu_f32 and kern_qact_quantize, so the bits are theirs. */
typedef struct GluJob {
    Job j;        /* j.W[0] gate, j.W[1] up; j.Y[0] = H, j.Y[1] = U */
    KernQAct *hq; /* NULL: no quantizing */
} GluJob;

/* The first 2 KB of row n on: a decode's row dots prefetch that far ahead of what they read,
 * so a tile that turns from one matrix to the other would start each turn with a wait. */
static void prefetch_rows(const KernQMat *W, int n) {
    const char *p = (const char *)W->blocks + (size_t)n * kern_qmat_row_bytes(W);
    for (int k = 0; k < 2048; k += 64) __builtin_prefetch(p + k);
}

static void glu_tile(void *arg, int i) {
    const GluJob *g = arg;
    const Job *j = &g->j;
    const int N = j->W[0]->N, T = j->x->T, n0 = i * KERN_QMAT_TILE_ROWS;
    const int n1 = n0 + KERN_QMAT_TILE_ROWS < N ? n0 + KERN_QMAT_TILE_ROWS : N;
    if (T <= KERN_QACT_DOT_T) prefetch_rows(j->W[1], n0);
    tile_rows(j, j->W[0], j->b[0], j->Y[0], n0, n1);
    if (T <= KERN_QACT_DOT_T && n1 < N) prefetch_rows(j->W[0], n1);
    tile_rows(j, j->W[1], j->b[1], j->Y[1], n0, n1);
    for (int t = 0; t < T; t++) {
        float *h = j->Y[0] + (size_t)t * N;
        kern_swiglu_span(h + n0, j->Y[1] + (size_t)t * N + n0, (size_t)(n1 - n0));
        if (g->hq) kern_qact_blocks(g->hq, h, t, i, i + 1, j->isa);
    }
}

void kern_qmat_swiglu(const KernQMat *Wg, const KernQMat *Wu, const KernQAct *x, const float *bg, const float *bu, float *H,
                      float *U, KernQAct *hq, KernIsa isa) {
    _Static_assert(KERN_QMAT_TILE_ROWS == QK, "a tile of the gated FFN is one activation block");
    const int N = Wg->N;
    GluJob g = {{.W = {Wg, Wu}, .b = {bg, bu}, .Y = {H, U}, .x = x, .rows = KERN_QMAT_TILE_ROWS, .isa = isa, .vbmi = cpu_vbmi()},
                hq};
    amx_prepare(isa, x);
    if (hq) {
        assert(x->T <= hq->max_T && qblock_count(N) <= hq->max_nb); /* the caller's buffer: not input */
        hq->T = x->T;
        hq->K = N;
        hq->nb = (int)qblock_count(N);
    }
    kern_parallel_tiles((N + KERN_QMAT_TILE_ROWS - 1) / KERN_QMAT_TILE_ROWS, glu_tile, &g,
                        job_big(2 * (int64_t)N * Wg->K * x->T));
}

/* kern_qmat_prefetch's worker job: touches one byte of every line of two ranges until the
 * caller posts the next job.  Loads, not prefetch instructions: those return at once, and the
 * worker issued 330 KB of them a gap (W4 1.1B decode), where loads, which wait for their lines,
 * got through 75 KB: most of the prefetches could only have been dropped. */
typedef struct PrefetchArg {
    const char *p[2];
    size_t n[2];
} PrefetchArg;

static void prefetch_async(void *arg, int t) {
    (void)t;
    const PrefetchArg *a = arg;
    unsigned acc = 0;
    for (int k = 0; k < 2; k++)
        for (size_t o = 0; o < a->n[k]; o += 64) {
            if (o % 4096 == 0 && kern_async_superseded()) return;
            acc += *(const volatile unsigned char *)(a->p[k] + o);
        }
    (void)acc;
}

void kern_qmat_prefetch(int n, const KernQMat *const *W, int paired, size_t bytes) {
    int tiles[KERN_QMAT_MULTI + 1];
    n = n < KERN_QMAT_MULTI ? n : KERN_QMAT_MULTI;
    if (!job_big(job_tiles(n, W, tiles))) return; /* the caller runs that job alone */
    PrefetchArg a = {{NULL, NULL}, {0, 0}};
    const int first = kern_pool_first_tile(tiles[paired ? 1 : n], 1); /* worker 1's first tile */
    if (first >= tiles[paired ? 1 : n]) return;
    for (int k = 0; k < (paired ? 2 : 1); k++) {
        int m = k;
        if (!paired)
            while (first >= tiles[m + 1]) m++;
        const size_t rb = kern_qmat_row_bytes(W[m]), r0 = (size_t)(first - tiles[paired ? 0 : m]) * KERN_QMAT_TILE_ROWS;
        const size_t left = ((size_t)W[m]->N - r0) * rb, want = paired ? bytes / 2 : bytes;
        a.p[k] = (const char *)W[m]->blocks + r0 * rb;
        a.n[k] = want < left ? want : left;
    }
    kern_parallel_async(prefetch_async, &a, sizeof a);
}
