/* qmat.c — group-quantized linear layers on packed blocks (kernels.h): activation
 * quantization, the reference dequantizer, the scalar integer kernel (the reference the SIMD
 * kernels are tested against) and the driver that splits output rows over the worker pool. */
#include <math.h>
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
        default: return sizeof(QBlockQ2);
    }
}

const char *kern_qtype_name(KernQType t) {
    static const char *names[] = {"q8_0", "q4_0", "q3", "q2"};
    return names[t];
}

KernQType kern_qtype_for_bits(int bits) {
    return bits >= 5 ? KERN_Q8_0 : bits == 4 ? KERN_Q4_0 : bits == 3 ? KERN_Q3 : KERN_Q2;
}

void kern_qact_init(KernQAct *a, int max_T, int max_K) {
    memset(a, 0, sizeof *a);
    a->max_T = max_T;
    a->max_nb = (int)qblock_count(max_K);
    size_t nbt = (size_t)max_T * a->max_nb;
    a->q = xmalloc(nbt * QK);
    a->d = xmalloc(nbt * sizeof(float));
    a->s = xmalloc(nbt * sizeof(int32_t));
    a->l = xmalloc(nbt * 8 * sizeof(int32_t));
}

void kern_qact_free(KernQAct *a) {
    free(a->q);
    free(a->d);
    free(a->s);
    free(a->l);
    memset(a, 0, sizeof *a);
}

void kern_qact_quantize(KernQAct *a, const float *X, int T, int K) {
    int nb = (int)qblock_count(K);
    a->T = T;
    a->K = K;
    a->nb = nb;
    for (int t = 0; t < T; t++) {
        const float *x = X + (size_t)t * K;
        for (int b = 0; b < nb; b++) {
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
        }
    }
}

/* The 32 codes of block b of row n and its scale. */
void kern_qmat_block_codes(const KernQMat *W, int64_t n, int64_t b, int8_t c[QK], float *d) {
    const uint8_t *p = (const uint8_t *)W->blocks + ((size_t)n * W->nb + b) * kern_qtype_block_bytes(W->type);
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

typedef struct Job {
    const KernQMat *W;
    const KernQAct *x;
    const float *b;
    float *Y;
    int rows;         /* rows per tile */
    KernIsa isa;
} Job;

static void tile(void *arg, int i) {
    const Job *j = arg;
    int n0 = i * j->rows, n1 = n0 + j->rows < j->W->N ? n0 + j->rows : j->W->N;
    switch (j->isa) {
        case KERN_ISA_AVX512VNNI: kern_qmat_rows_avx512(j->W, j->x, n0, n1, j->Y); break;
        case KERN_ISA_AVX2: kern_qmat_rows_avx2(j->W, j->x, n0, n1, j->Y); break;
        default: kern_qmat_rows_scalar(j->W, j->x, n0, n1, j->Y); break;
    }
    if (j->b)
        for (int t = 0; t < j->x->T; t++)
            for (int n = n0; n < n1; n++) j->Y[(size_t)t * j->W->N + n] += j->b[n];
}

void kern_qmat_linear(const KernQMat *W, const KernQAct *x, const float *b, float *Y, KernIsa isa) {
    /* Tiles of 16 rows: fine enough that a busy core costs little, big enough that a tile's
     * weights are reused across the tokens of a prompt while they sit in L1/L2. */
    Job j = {W, x, b, Y, 16, isa};
    int ntiles = (W->N + j.rows - 1) / j.rows;
    kern_parallel_tiles(ntiles, tile, &j, (int64_t)W->N * W->K * x->T > (1 << 18));
}
