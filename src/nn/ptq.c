/* ptq.c — post-training quantization of the MLP (nn_ptq.h). */
#include "quant/nn_ptq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/nn_layers.h"

int nn_quantize_weights(const NnModel *m, const NnWeightQuant *s, NnQuantWeights *out, QErr *err) {
    memset(out, 0, sizeof *out);
    out->scheme = *s;
    out->n_layers = m->n_layers;
    nn_model_copy(&out->deq, m);
    for (int l = 0; l < m->n_layers; l++) {
        int K = m->dims[l], N = m->dims[l + 1];
        if (qparams_init(&out->p[l], s->bits, s->symmetric, s->gran, s->group_size, N, K, err)) {
            nn_quant_weights_free(out);
            return qerr_prefix(err, "layer %d", l);
        }
        qparams_fit_observer(&out->p[l], m->w[l], s->observer);
        out->codes[l] = xmalloc((size_t)N * K);
        quantize(&out->p[l], m->w[l], out->codes[l]);
        dequantize(&out->p[l], out->codes[l], out->deq.w[l]);
    }
    return 0;
}

void nn_quant_weights_free(NnQuantWeights *q) {
    for (int l = 0; l < q->n_layers; l++) {
        qparams_free(&q->p[l]);
        free(q->codes[l]);
    }
    nn_model_free(&q->deq);
    memset(q, 0, sizeof *q);
}

typedef struct CalibCtx {
    QObserver *obs[NN_MAX_LAYERS];
} CalibCtx;

static void calib_observe(void *ctx, int layer, const float *x, int64_t n) {
    CalibCtx *c = ctx;
    qobserver_update(c->obs[layer], x, n);
}

int nn_calibrate_activations(const NnModel *m, const NnDataset *calib, int64_t n_samples, QObserverKind kind,
                             int act_bits, QParams act[NN_MAX_LAYERS], QErr *err) {
    if (n_samples < 1 || n_samples > calib->n)
        return qerr_set(err, "calibration samples must be in 1..%lld, got %lld", (long long)calib->n, (long long)n_samples);
    CalibCtx c;
    for (int l = 0; l < m->n_layers; l++) c.obs[l] = qobserver_new(kind, NULL);
    const int bs = 250;
    NnWorkspace ws;
    nn_workspace_init(&ws, m, bs);
    for (int64_t i = 0; i < n_samples; i += bs) {
        int B = (int)(n_samples - i < bs ? n_samples - i : bs);
        nn_model_forward(m, &ws, calib->images + i * m->dims[0], B, NULL, calib_observe, &c);
    }
    nn_workspace_free(&ws);
    int rc = 0;
    for (int l = 0; l < m->n_layers; l++) {
        float lo, hi;
        qobserver_range(c.obs[l], act_bits, 0, &lo, &hi);
        if (rc == 0) rc = qparams_init(&act[l], act_bits, 0, QGRAN_TENSOR, 0, 1, 1, err);
        if (rc == 0) qparams_set_range(&act[l], 0, lo, hi);
        qobserver_free(c.obs[l]);
    }
    return rc;
}

int nn_qmodel_convert(const NnModel *m, const QParams act[NN_MAX_LAYERS], NnQModel *q, QErr *err) {
    memset(q, 0, sizeof *q);
    q->n_layers = m->n_layers;
    memcpy(q->dims, m->dims, sizeof q->dims);
    for (int l = 0; l < m->n_layers; l++) {
        int K = m->dims[l], N = m->dims[l + 1];
        if (act[l].bits != 8) return qerr_set(err, "integer path needs 8-bit activations (layer %d has %d)", l, act[l].bits);
        QParams wp;
        if (qparams_init(&wp, 8, 1, QGRAN_CHANNEL, 0, N, K, err)) return -1;
        qparams_fit_minmax(&wp, m->w[l]);
        q->wq[l] = xmalloc((size_t)N * K);
        quantize(&wp, m->w[l], q->wq[l]);
        q->w_scale[l] = xmalloc((size_t)N * sizeof(float));
        memcpy(q->w_scale[l], wp.scale, (size_t)N * sizeof(float));
        qparams_free(&wp);
        q->act_scale[l] = act[l].scale[0];
        q->act_zero[l] = act[l].zero[0];
        q->bias[l] = xmalloc((size_t)N * sizeof(int32_t));
        for (int n = 0; n < N; n++) {
            double sb = (double)q->act_scale[l] * q->w_scale[l][n];
            double b = nearbyint((double)m->b[l][n] / sb);
            if (b > 2147483647.0) b = 2147483647.0;
            if (b < -2147483648.0) b = -2147483648.0;
            q->bias[l][n] = (int32_t)b;
        }
    }
    /* requantization of layer l's output onto layer l+1's input grid */
    for (int l = 0; l + 1 < m->n_layers; l++) {
        int N = m->dims[l + 1];
        q->rq_mult[l] = xmalloc((size_t)N * sizeof(int32_t));
        q->rq_shift[l] = xmalloc((size_t)N * sizeof(int32_t));
        for (int n = 0; n < N; n++) {
            double M = (double)q->act_scale[l] * q->w_scale[l][n] / q->act_scale[l + 1];
            kern_quantize_multiplier(M, &q->rq_mult[l][n], &q->rq_shift[l][n]);
        }
    }
    return 0;
}

void nn_qmodel_pack(NnQModel *q, KernIsa isa) {
    for (int l = 0; l < q->n_layers; l++) {
        kern_s8_weights_free(q->packed[l]);
        q->packed[l] = kern_s8_weights_pack(q->wq[l], q->dims[l + 1], q->dims[l], isa);
    }
}

void nn_qmodel_free(NnQModel *q) {
    for (int l = 0; l < q->n_layers; l++) {
        free(q->wq[l]);
        free(q->w_scale[l]);
        free(q->bias[l]);
        free(q->rq_mult[l]);
        free(q->rq_shift[l]);
        kern_s8_weights_free(q->packed[l]);
    }
    memset(q, 0, sizeof *q);
}

void nn_qworkspace_init(NnQWorkspace *ws, const NnQModel *q, int max_batch) {
    memset(ws, 0, sizeof *ws);
    ws->max_batch = max_batch;
    for (int l = 0; l < q->n_layers; l++) ws->a[l] = xmalloc((size_t)max_batch * q->dims[l]);
    ws->acc = xmalloc((size_t)max_batch * q->dims[q->n_layers] * sizeof(int32_t));
}

void nn_qworkspace_free(NnQWorkspace *ws) {
    for (int l = 0; l < NN_MAX_LAYERS; l++) free(ws->a[l]);
    free(ws->acc);
    memset(ws, 0, sizeof *ws);
}

void nn_qmodel_forward(const NnQModel *q, NnQWorkspace *ws, const float *x, int B, uint8_t *pred, float *logits) {
    const int L = q->n_layers, C = q->dims[L];
    /* entry: float -> int8 on the first layer's input grid */
    {
        float s = q->act_scale[0];
        int32_t z = q->act_zero[0];
        /* = quant_code() on every element, with the packed weights' SIMD (kernels.h) */
        kern_quantize_f32_s8((int64_t)B * q->dims[0], x, s, z, -128, 127, ws->a[0], kern_s8_weights_isa(q->packed[0]));
    }
    for (int l = 0; l + 1 < L; l++) {
        /* ReLU fused: clamp below at the next grid's zero-point (= real 0) */
        KernRequant rq = {q->rq_mult[l], q->rq_shift[l], q->act_zero[l + 1], q->act_zero[l + 1], 127};
        kern_qlinear_s8(B, ws->a[l], q->act_zero[l], q->packed[l], q->bias[l], &rq, ws->a[l + 1]);
    }
    kern_qlinear_s8_acc(B, ws->a[L - 1], q->act_zero[L - 1], q->packed[L - 1], q->bias[L - 1], ws->acc);
    /* exit: dequantize the int32 logits (per-channel weight scales make raw accumulators
     * incomparable across classes) */
    for (int b = 0; b < B; b++) {
        const int32_t *a = ws->acc + (size_t)b * C;
        int best = 0;
        float bestv = -INFINITY;
        for (int c = 0; c < C; c++) {
            float v = (float)a[c] * q->act_scale[L - 1] * q->w_scale[L - 1][c];
            if (logits) logits[(size_t)b * C + c] = v;
            if (v > bestv) {
                bestv = v;
                best = c;
            }
        }
        if (pred) pred[b] = (uint8_t)best;
    }
}

double nn_qmodel_accuracy(const NnQModel *q, const NnDataset *d, uint8_t *pred) {
    const int bs = 500;
    NnQWorkspace ws;
    nn_qworkspace_init(&ws, q, bs);
    uint8_t p[500];
    int64_t hits = 0;
    for (int64_t i = 0; i < d->n; i += bs) {
        int B = (int)(d->n - i < bs ? d->n - i : bs);
        nn_qmodel_forward(q, &ws, d->images + i * q->dims[0], B, p, NULL);
        for (int j = 0; j < B; j++) {
            hits += p[j] == d->labels[i + j];
            if (pred) pred[i + j] = p[j];
        }
    }
    nn_qworkspace_free(&ws);
    return (double)hits / (double)d->n;
}

void nn_w8a8_simulation(const NnQModel *q, NnModel *sim) {
    memset(sim, 0, sizeof *sim);
    sim->n_layers = q->n_layers;
    memcpy(sim->dims, q->dims, sizeof sim->dims);
    for (int l = 0; l < q->n_layers; l++) {
        int K = q->dims[l], N = q->dims[l + 1];
        sim->w[l] = xmalloc((size_t)N * K * sizeof(float));
        sim->b[l] = xmalloc((size_t)N * sizeof(float));
        for (int n = 0; n < N; n++) {
            for (int k = 0; k < K; k++) sim->w[l][(size_t)n * K + k] = q->w_scale[l][n] * q->wq[l][(size_t)n * K + k];
            /* the bias as the integer model holds it */
            sim->b[l][n] = (float)q->bias[l][n] * q->act_scale[l] * q->w_scale[l][n];
        }
    }
}
