/* mlp.c — the fp32 MLP: init, forward, evaluation, Adam training (nn_model.h). */
#include "quant/nn_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/nn_layers.h"

int nn_mlp_init(NnModel *m, int n_in, const int *hidden, int n_hidden, int n_out, QRng *rng, QErr *err) {
    memset(m, 0, sizeof *m);
    if (n_hidden + 1 > NN_MAX_LAYERS) return qerr_set(err, "at most %d hidden layers", NN_MAX_LAYERS - 1);
    m->n_layers = n_hidden + 1;
    m->dims[0] = n_in;
    for (int i = 0; i < n_hidden; i++) {
        if (hidden[i] < 1 || hidden[i] > 65536) return qerr_set(err, "hidden width %d outside 1..65536", hidden[i]);
        m->dims[i + 1] = hidden[i];
    }
    m->dims[m->n_layers] = n_out;
    for (int l = 0; l < m->n_layers; l++) {
        int K = m->dims[l], N = m->dims[l + 1];
        float bound = 1.0f / sqrtf((float)K);
        m->w[l] = xmalloc((size_t)N * K * sizeof(float));
        m->b[l] = xmalloc((size_t)N * sizeof(float));
        for (size_t i = 0; i < (size_t)N * K; i++) m->w[l][i] = (2.0f * qrng_uniform(rng) - 1.0f) * bound;
        for (int i = 0; i < N; i++) m->b[l][i] = (2.0f * qrng_uniform(rng) - 1.0f) * bound;
    }
    return 0;
}

void nn_model_copy(NnModel *dst, const NnModel *src) {
    *dst = *src;
    for (int l = 0; l < src->n_layers; l++) {
        size_t nw = (size_t)src->dims[l + 1] * src->dims[l], nb = (size_t)src->dims[l + 1];
        dst->w[l] = xmalloc(nw * sizeof(float));
        dst->b[l] = xmalloc(nb * sizeof(float));
        memcpy(dst->w[l], src->w[l], nw * sizeof(float));
        memcpy(dst->b[l], src->b[l], nb * sizeof(float));
    }
}

void nn_model_free(NnModel *m) {
    for (int l = 0; l < m->n_layers; l++) {
        free(m->w[l]);
        free(m->b[l]);
    }
    memset(m, 0, sizeof *m);
}

int64_t nn_model_n_params(const NnModel *m) {
    int64_t n = 0;
    for (int l = 0; l < m->n_layers; l++) n += (int64_t)m->dims[l + 1] * (m->dims[l] + 1);
    return n;
}

void nn_workspace_init(NnWorkspace *ws, const NnModel *m, int max_batch) {
    memset(ws, 0, sizeof *ws);
    ws->max_batch = max_batch;
    for (int l = 0; l <= m->n_layers; l++) ws->a[l] = xmalloc((size_t)max_batch * m->dims[l] * sizeof(float));
}

void nn_workspace_free(NnWorkspace *ws) {
    for (int l = 0; l <= NN_MAX_LAYERS; l++) free(ws->a[l]);
    memset(ws, 0, sizeof *ws);
}

const float *nn_model_forward(const NnModel *m, NnWorkspace *ws, const float *x, int B, const NnActQuant *aq,
                              NnObserveFn observe, void *ctx) {
    if (x != ws->a[0]) memcpy(ws->a[0], x, (size_t)B * m->dims[0] * sizeof(float));
    for (int l = 0; l < m->n_layers; l++) {
        int K = m->dims[l], N = m->dims[l + 1];
        float *in = ws->a[l], *out = ws->a[l + 1];
        if (observe) observe(ctx, l, in, (int64_t)B * K);
        if (aq && aq->act[l]) {
            /* per-tensor activation grid: view the batch as one row of B*K values */
            QParams p = *aq->act[l];
            p.rows = 1;
            p.cols = (int64_t)B * K;
            fake_quantize(&p, in, in);
        }
        linear_forward(out, in, m->w[l], m->b[l], B, K, N);
        if (l + 1 < m->n_layers) relu_forward(out, out, (int64_t)B * N);
    }
    return ws->a[m->n_layers];
}

double nn_model_accuracy(const NnModel *m, const NnDataset *d, const NnActQuant *aq, uint8_t *pred) {
    const int bs = 500;
    NnWorkspace ws;
    nn_workspace_init(&ws, m, bs);
    int64_t hits = 0;
    int C = m->dims[m->n_layers];
    for (int64_t i = 0; i < d->n; i += bs) {
        int B = (int)(d->n - i < bs ? d->n - i : bs);
        const float *logits = nn_model_forward(m, &ws, d->images + i * m->dims[0], B, aq, NULL, NULL);
        for (int j = 0; j < B; j++) {
            int c = argmax_f32(logits + (size_t)j * C, C);
            hits += c == d->labels[i + j];
            if (pred) pred[i + j] = (uint8_t)c;
        }
    }
    nn_workspace_free(&ws);
    return (double)hits / (double)d->n;
}

void nn_train_opts_default(NnTrainOpts *o) {
    o->epochs = 5;
    o->batch = 128;
    o->lr = 1e-3f;
    o->seed = 0;
    o->verbose = 1;
    o->cosine = 0;
    o->normalize = 0;
}

float nn_train_lr(const NnTrainOpts *o, int64_t t, int64_t total) {
    return o->cosine ? q_cosine_lr(o->lr, t, total) : o->lr;
}

void nn_curve_init(NnCurve *c, int epochs) {
    memset(c, 0, sizeof *c);
    c->per_epoch = epochs > 0 && NN_CURVE_MAX / epochs < 8 ? NN_CURVE_MAX / epochs : 8;
    if (c->per_epoch < 1) c->per_epoch = 1;
}

void nn_curve_batch(NnCurve *c, int64_t j, int64_t nb, double loss_sum, int64_t hits, int64_t B) {
    c->seg_loss += loss_sum;
    c->seg_hits += hits;
    c->seg_seen += B;
    /* the segment ends where floor(j * per_epoch / nb) steps, and at the epoch's end */
    if (j + 1 < nb && (j + 1) * c->per_epoch / nb == j * c->per_epoch / nb) return;
    if (c->n < NN_CURVE_MAX && c->seg_seen > 0) {
        c->loss[c->n] = (float)(c->seg_loss / (double)c->seg_seen);
        c->acc[c->n] = (float)((double)c->seg_hits / (double)c->seg_seen);
        c->n++;
    }
    c->seg_loss = 0;
    c->seg_hits = c->seg_seen = 0;
}

void nn_train(NnModel *m, const NnDataset *train, const NnTrainOpts *o, NnTrainStats *st) {
    const int L = m->n_layers, C = m->dims[L], Bmax = o->batch;
    NnWorkspace ws;
    nn_workspace_init(&ws, m, Bmax);
    float *gw[NN_MAX_LAYERS], *gb[NN_MAX_LAYERS], *mw[NN_MAX_LAYERS], *vw[NN_MAX_LAYERS], *mb[NN_MAX_LAYERS],
        *vb[NN_MAX_LAYERS], *d[NN_MAX_LAYERS + 1];
    for (int l = 0; l < L; l++) {
        size_t nw = (size_t)m->dims[l + 1] * m->dims[l], nb = (size_t)m->dims[l + 1];
        gw[l] = xcalloc(nw, sizeof(float));
        mw[l] = xcalloc(nw, sizeof(float));
        vw[l] = xcalloc(nw, sizeof(float));
        gb[l] = xcalloc(nb, sizeof(float));
        mb[l] = xcalloc(nb, sizeof(float));
        vb[l] = xcalloc(nb, sizeof(float));
    }
    for (int l = 0; l <= L; l++) d[l] = xmalloc((size_t)Bmax * m->dims[l] * sizeof(float));
    float *probs = xmalloc((size_t)Bmax * C * sizeof(float));
    uint8_t *yb = xmalloc((size_t)Bmax);
    int32_t *order = xmalloc((size_t)train->n * sizeof(int32_t));
    for (int64_t i = 0; i < train->n; i++) order[i] = (int32_t)i;
    QRng rng;
    qrng_seed(&rng, o->seed);
    QProgress prog;
    qprogress_init(&prog);
    int step = 0;
    const int64_t total = (int64_t)o->epochs * ((train->n + Bmax - 1) / Bmax);
    double t_all = qtime_now();
    memset(st, 0, sizeof *st);
    nn_curve_init(&st->curve, o->epochs);
    const int64_t nbpe = (train->n + Bmax - 1) / Bmax;
    for (int ep = 0; ep < o->epochs; ep++) {
        double t0 = qtime_now(), loss_sum = 0;
        int64_t hits = 0, seen = 0;
        qrng_shuffle_i32(&rng, order, train->n);
        for (int64_t i = 0; i < train->n; i += Bmax) {
            int B = (int)(train->n - i < Bmax ? train->n - i : Bmax);
            for (int j = 0; j < B; j++) {
                memcpy(ws.a[0] + (size_t)j * m->dims[0], train->images + (size_t)order[i + j] * m->dims[0],
                       (size_t)m->dims[0] * sizeof(float));
                yb[j] = train->labels[order[i + j]];
            }
            const float *logits = nn_model_forward(m, &ws, ws.a[0], B, NULL, NULL, NULL);
            int correct;
            double bl = softmax_xent_forward(probs, logits, yb, B, C, &correct) * B;
            loss_sum += bl;
            hits += correct;
            nn_curve_batch(&st->curve, i / Bmax, nbpe, bl, correct, B);
            seen += B;
            softmax_xent_backward(d[L], probs, yb, B, C);
            for (int l = L - 1; l >= 0; l--) {
                int K = m->dims[l], N = m->dims[l + 1];
                linear_backward(l > 0 ? d[l] : NULL, gw[l], gb[l], d[l + 1], ws.a[l], m->w[l], B, K, N);
                if (l > 0) relu_backward(d[l], d[l], ws.a[l], (int64_t)B * K);
            }
            float lr = nn_train_lr(o, step, total);
            step++;
            for (int l = 0; l < L; l++) {
                adam_update(m->w[l], gw[l], mw[l], vw[l], (int64_t)m->dims[l + 1] * m->dims[l], lr, step);
                adam_update(m->b[l], gb[l], mb[l], vb[l], m->dims[l + 1], lr, step);
            }
            if ((step & 31) == 0) {
                qprogress_frac(&prog, (ep + (double)(i + B) / (double)train->n) / o->epochs);
                qprogress_update(&prog, "epoch %d/%d  %5.1f%%  loss %.4f", ep + 1, o->epochs,
                                 100.0 * (double)(i + B) / (double)train->n, loss_sum / (double)seen);
            }
        }
        qprogress_done(&prog);
        st->loss = loss_sum / (double)seen;
        st->train_acc = (double)hits / (double)seen;
        st->seconds = qtime_now() - t0;
        if (o->verbose)
            qlog("epoch %d/%d  loss %.4f  train acc %.2f%%  %.2fs", ep + 1, o->epochs, st->loss, 100 * st->train_acc,
                 st->seconds);
    }
    st->total_seconds = qtime_now() - t_all;
    for (int l = 0; l < L; l++) {
        free(gw[l]);
        free(gb[l]);
        free(mw[l]);
        free(vw[l]);
        free(mb[l]);
        free(vb[l]);
    }
    for (int l = 0; l <= L; l++) free(d[l]);
    free(probs);
    free(yb);
    free(order);
    nn_workspace_free(&ws);
}
