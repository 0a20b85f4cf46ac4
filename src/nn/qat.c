/* qat.c — quantization-aware training of the MLP (nn_qat.h). */
#include "quant/nn_qat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/fakequant.h"
#include "quant/nn_layers.h"

void nn_qat_opts_default(NnQatOpts *o) {
    memset(o, 0, sizeof *o);
    o->method = NN_QAT_STE;
    o->wbits = 4;
    o->abits = 8;
    o->epochs = 2;
    o->batch = 128;
    o->lr = 1e-4f;
    o->freeze_steps = 300;
    o->verbose = 1;
}

/* Per-row symmetric scales from the current weights: s = max|w| / qmax. */
void nn_qat_minmax_row_scales(const float *w, int N, int K, int bits, float *s) {
    int qmax = (1 << (bits - 1)) - 1;
    for (int n = 0; n < N; n++) {
        float a = 0;
        for (int k = 0; k < K; k++) a = fmaxf(a, fabsf(w[(size_t)n * K + k]));
        s[n] = a > 0 ? a / qmax : 1.0f;
    }
}

/* w_q = s_row * clamp(round(w / s_row), qn, qp); mask: inside the clamp. */
void nn_qat_quant_rows(const float *w, const float *s, int N, int K, int qn, int qp, float *wq, uint8_t *mask) {
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            size_t i = (size_t)n * K + k;
            float v = w[i] / s[n];
            if (mask) mask[i] = v >= qn && v <= qp;
            v = fminf(fmaxf(v, (float)qn), (float)qp);
            wq[i] = s[n] * nearbyintf(v);
        }
}

static void act_params(QParams *p, int bits, float lo, float hi) {
    QErr e;
    if (!p->scale) qparams_init(p, bits, 0, QGRAN_TENSOR, 0, 1, 1, &e);
    qparams_set_range(p, 0, lo, hi);
}

int nn_qat_train(const NnModel *m0, const NnDataset *train, const NnQatOpts *o, NnQatResult *r, QErr *err) {
    memset(r, 0, sizeof *r);
    if (o->wbits < 2 || o->wbits > 8) return qerr_set(err, "weight bits must be 2..8, got %d", o->wbits);
    if (o->abits != 0 && (o->abits < 2 || o->abits > 8)) return qerr_set(err, "activation bits must be 2..8, got %d", o->abits);
    double t0 = qtime_now();
    NnModel *m = &r->master;
    nn_model_copy(m, m0);
    r->wbits = o->wbits;
    r->abits = o->abits;
    const int L = m->n_layers, C = m->dims[L], Bmax = o->batch;
    const int wqn = -(1 << (o->wbits - 1)), wqp = (1 << (o->wbits - 1)) - 1;
    const int aqp = o->abits ? (1 << o->abits) - 1 : 0; /* inputs are >= 0 (pixels, ReLU): unsigned grid */
    const int lsq = o->method == NN_QAT_LSQ;
    float *wq[NN_MAX_LAYERS], *gw[NN_MAX_LAYERS], *gb[NN_MAX_LAYERS], *mw[NN_MAX_LAYERS], *vw[NN_MAX_LAYERS],
        *mb[NN_MAX_LAYERS], *vb[NN_MAX_LAYERS], *a[NN_MAX_LAYERS + 1], *aq[NN_MAX_LAYERS], *d[NN_MAX_LAYERS + 1];
    uint8_t *wmask[NN_MAX_LAYERS], *amask[NN_MAX_LAYERS];
    float *gsw[NN_MAX_LAYERS], *msw[NN_MAX_LAYERS], *vsw[NN_MAX_LAYERS];
    float sa[NN_MAX_LAYERS], gsa[NN_MAX_LAYERS], msa[NN_MAX_LAYERS] = {0}, vsa[NN_MAX_LAYERS] = {0};
    FqEma ema[NN_MAX_LAYERS];
    memset(ema, 0, sizeof ema);
    for (int l = 0; l < L; l++) {
        int K = m->dims[l], N = m->dims[l + 1];
        size_t nw = (size_t)N * K;
        wq[l] = xmalloc(nw * sizeof(float));
        wmask[l] = xmalloc(nw);
        gw[l] = xcalloc(nw, sizeof(float));
        mw[l] = xcalloc(nw, sizeof(float));
        vw[l] = xcalloc(nw, sizeof(float));
        gb[l] = xcalloc((size_t)N, sizeof(float));
        mb[l] = xcalloc((size_t)N, sizeof(float));
        vb[l] = xcalloc((size_t)N, sizeof(float));
        r->wscale[l] = xmalloc((size_t)N * sizeof(float));
        gsw[l] = xcalloc((size_t)N, sizeof(float));
        msw[l] = xcalloc((size_t)N, sizeof(float));
        vsw[l] = xcalloc((size_t)N, sizeof(float));
        aq[l] = xmalloc((size_t)Bmax * K * sizeof(float));
        amask[l] = xmalloc((size_t)Bmax * K);
        nn_qat_minmax_row_scales(m->w[l], N, K, o->wbits, r->wscale[l]);
        if (lsq) { /* LSQ's initial step: 2 <|w|> / sqrt(qp) per row */
            for (int n = 0; n < N; n++) {
                double mean = 0;
                for (int k = 0; k < K; k++) mean += fabsf(m->w[l][(size_t)n * K + k]);
                mean /= K;
                if (mean > 0) r->wscale[l][n] = (float)(2 * mean / sqrt((double)wqp));
            }
        }
    }
    for (int l = 0; l <= L; l++) {
        a[l] = xmalloc((size_t)Bmax * m->dims[l] * sizeof(float));
        d[l] = xmalloc((size_t)Bmax * m->dims[l] * sizeof(float));
    }
    float *probs = xmalloc((size_t)Bmax * C * sizeof(float));
    uint8_t *yb = xmalloc((size_t)Bmax);
    int32_t *order = xmalloc((size_t)train->n * sizeof(int32_t));
    for (int64_t i = 0; i < train->n; i++) order[i] = (int32_t)i;
    QRng rng;
    qrng_seed(&rng, o->seed);
    /* LSQ activation steps start from the input ranges of a first batch */
    if (lsq && o->abits) {
        NnWorkspace ws;
        nn_workspace_init(&ws, m, 1024);
        int B = train->n < 1024 ? (int)train->n : 1024;
        nn_model_forward(m, &ws, train->images, B, NULL, NULL, NULL);
        for (int l = 0; l < L; l++) {
            double mean = 0;
            int64_t n = (int64_t)B * m->dims[l];
            for (int64_t i = 0; i < n; i++) mean += fabsf(ws.a[l][i]);
            mean /= (double)n;
            sa[l] = (float)(2 * mean / sqrt((double)aqp));
            if (!(sa[l] > 0)) sa[l] = 1.0f / aqp;
        }
        nn_workspace_free(&ws);
    }
    int step = 0;
    QProgress prog;
    qprogress_init(&prog);
    nn_curve_init(&r->curve, o->epochs);
    const int64_t nbpe = (train->n + Bmax - 1) / Bmax;
    for (int ep = 0; ep < o->epochs; ep++) {
        double te = qtime_now(), loss_sum = 0;
        int64_t hits = 0, seen = 0;
        qrng_shuffle_i32(&rng, order, train->n);
        for (int64_t i0 = 0; i0 < train->n; i0 += Bmax) {
            int B = (int)(train->n - i0 < Bmax ? train->n - i0 : Bmax);
            for (int j = 0; j < B; j++) {
                memcpy(a[0] + (size_t)j * m->dims[0], train->images + (size_t)order[i0 + j] * m->dims[0],
                       (size_t)m->dims[0] * sizeof(float));
                yb[j] = train->labels[order[i0 + j]];
            }
            /* forward with fake quantization */
            for (int l = 0; l < L; l++) {
                int K = m->dims[l], N = m->dims[l + 1];
                int64_t n = (int64_t)B * K;
                const float *in = a[l];
                if (o->abits) {
                    if (lsq) {
                        lsq_forward(a[l], aq[l], n, sa[l], 0, aqp);
                    } else {
                        if (step < o->freeze_steps) {
                            fq_ema_update(&ema[l], a[l], n);
                            act_params(&r->act[l], o->abits, ema[l].lo, ema[l].hi);
                        }
                        QParams p = r->act[l];
                        p.rows = 1;
                        p.cols = n;
                        fq_forward(&p, a[l], aq[l], amask[l]);
                    }
                    in = aq[l];
                }
                if (!lsq) nn_qat_minmax_row_scales(m->w[l], N, K, o->wbits, r->wscale[l]);
                nn_qat_quant_rows(m->w[l], r->wscale[l], N, K, wqn, wqp, wq[l], wmask[l]);
                linear_forward(a[l + 1], in, wq[l], m->b[l], B, K, N);
                if (l + 1 < L) relu_forward(a[l + 1], a[l + 1], (int64_t)B * N);
            }
            int correct;
            double bl = softmax_xent_forward(probs, a[L], yb, B, C, &correct) * B;
            loss_sum += bl;
            hits += correct;
            nn_curve_batch(&r->curve, i0 / Bmax, nbpe, bl, correct, B);
            seen += B;
            softmax_xent_backward(d[L], probs, yb, B, C);
            for (int l = L - 1; l >= 0; l--) {
                int K = m->dims[l], N = m->dims[l + 1];
                int64_t n = (int64_t)B * K;
                const float *in = o->abits ? aq[l] : a[l];
                linear_backward(l > 0 ? d[l] : NULL, gw[l], gb[l], d[l + 1], in, wq[l], B, K, N);
                /* gw now holds dL/dWq: straight through to the master weights, or LSQ */
                if (lsq) {
                    for (int r2 = 0; r2 < N; r2++)
                        gsw[l][r2] = (float)lsq_backward(m->w[l] + (size_t)r2 * K, gw[l] + (size_t)r2 * K,
                                                         gw[l] + (size_t)r2 * K, K, r->wscale[l][r2], wqn, wqp);
                } else {
                    fq_ste_backward(wmask[l], gw[l], gw[l], (int64_t)N * K);
                }
                if (l > 0) {
                    if (o->abits) {
                        if (lsq) gsa[l] = (float)lsq_backward(a[l], d[l], d[l], n, sa[l], 0, aqp);
                        else fq_ste_backward(amask[l], d[l], d[l], n);
                    }
                    relu_backward(d[l], d[l], a[l], n);
                }
                /* layer 0's input grid (the image) keeps its initial step: no gradient flows there */
            }
            step++;
            for (int l = 0; l < L; l++) {
                adam_update(m->w[l], gw[l], mw[l], vw[l], (int64_t)m->dims[l + 1] * m->dims[l], o->lr, step);
                adam_update(m->b[l], gb[l], mb[l], vb[l], m->dims[l + 1], o->lr, step);
                if (lsq) {
                    adam_update(r->wscale[l], gsw[l], msw[l], vsw[l], m->dims[l + 1], o->lr, step);
                    if (o->abits && l > 0) adam_update(&sa[l], &gsa[l], &msa[l], &vsa[l], 1, o->lr, step);
                    for (int n2 = 0; n2 < m->dims[l + 1]; n2++) r->wscale[l][n2] = fmaxf(r->wscale[l][n2], 1e-8f);
                    sa[l] = fmaxf(sa[l], 1e-8f);
                }
            }
            if ((step & 31) == 0) {
                qprogress_frac(&prog, (ep + (double)(i0 + B) / (double)train->n) / o->epochs);
                qprogress_update(&prog, "qat epoch %d/%d  %5.1f%%  loss %.4f", ep + 1, o->epochs,
                                 100.0 * (double)(i0 + B) / (double)train->n, loss_sum / (double)seen);
            }
        }
        qprogress_done(&prog);
        if (o->verbose)
            qlog("qat %s W%dA%d epoch %d/%d  loss %.4f  train acc %.2f%%  %.2fs", lsq ? "lsq" : "ste", o->wbits, o->abits,
                 ep + 1, o->epochs, loss_sum / (double)seen, 100.0 * (double)hits / (double)seen, qtime_now() - te);
    }
    /* the final grids */
    for (int l = 0; l < L; l++) {
        if (!lsq) nn_qat_minmax_row_scales(m->w[l], m->dims[l + 1], m->dims[l], o->wbits, r->wscale[l]);
        if (o->abits && lsq) {
            /* unsigned [0, aqp] * s  ==  signed codes with zero-point qmin */
            QErr e;
            if (!r->act[l].scale) qparams_init(&r->act[l], o->abits, 0, QGRAN_TENSOR, 0, 1, 1, &e);
            r->act[l].scale[0] = sa[l];
            r->act[l].zero[0] = r->act[l].qmin;
        }
    }
    for (int l = 0; l < L; l++) {
        free(wq[l]);
        free(wmask[l]);
        free(gw[l]);
        free(mw[l]);
        free(vw[l]);
        free(gb[l]);
        free(mb[l]);
        free(vb[l]);
        free(gsw[l]);
        free(msw[l]);
        free(vsw[l]);
        free(aq[l]);
        free(amask[l]);
    }
    for (int l = 0; l <= L; l++) {
        free(a[l]);
        free(d[l]);
    }
    free(probs);
    free(yb);
    free(order);
    r->seconds = qtime_now() - t0;
    return 0;
}

void nn_qat_result_free(NnQatResult *r) {
    for (int l = 0; l < r->master.n_layers; l++) {
        if (r->act[l].scale) qparams_free(&r->act[l]);
        free(r->wscale[l]);
    }
    nn_model_free(&r->master);
    memset(r, 0, sizeof *r);
}

void nn_qat_fake_model(const NnQatResult *r, NnModel *fq, NnActQuant *aq) {
    nn_model_copy(fq, &r->master);
    memset(aq, 0, sizeof *aq);
    int qn = -(1 << (r->wbits - 1)), qp = (1 << (r->wbits - 1)) - 1;
    for (int l = 0; l < fq->n_layers; l++) {
        nn_qat_quant_rows(r->master.w[l], r->wscale[l], fq->dims[l + 1], fq->dims[l], qn, qp, fq->w[l], NULL);
        if (r->abits) aq->act[l] = &r->act[l];
    }
}

int nn_qmodel_convert_scaled(const NnModel *m, const QParams act[NN_MAX_LAYERS], int wbits, float *const wscale[NN_MAX_LAYERS],
                             NnQModel *q, QErr *err) {
    if (nn_qmodel_convert(m, act, q, err)) return -1;
    int qn = -(1 << (wbits - 1)), qp = (1 << (wbits - 1)) - 1;
    for (int l = 0; l < m->n_layers; l++) {
        int K = m->dims[l], N = m->dims[l + 1];
        float *s = wscale ? wscale[l] : NULL, *own = NULL;
        if (!s) {
            own = xmalloc((size_t)N * sizeof(float));
            nn_qat_minmax_row_scales(m->w[l], N, K, wbits, own);
            s = own;
        }
        for (int n = 0; n < N; n++) {
            q->w_scale[l][n] = s[n];
            for (int k = 0; k < K; k++) {
                float v = fminf(fmaxf(m->w[l][(size_t)n * K + k] / s[n], (float)qn), (float)qp);
                q->wq[l][(size_t)n * K + k] = (int8_t)nearbyintf(v);
            }
            double sb = (double)q->act_scale[l] * s[n];
            double b = nearbyint((double)m->b[l][n] / sb);
            q->bias[l][n] = (int32_t)fmax(fmin(b, 2147483647.0), -2147483648.0);
            if (l + 1 < m->n_layers) kern_quantize_multiplier(sb / q->act_scale[l + 1], &q->rq_mult[l][n], &q->rq_shift[l][n]);
        }
        free(own);
    }
    return 0;
}
