/* cnn_qat.c — quantization-aware training of the CNN with the straight-through estimator or
 * LSQ (nn_cnn.h), the CNN counterpart of nn_qat_train (qat.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_internal.h"
#include "quant/fakequant.h"
#include "quant/nn_cnn.h"
#include "quant/nn_conv.h"
#include "quant/nn_layers.h"

static void act_params(QParams *p, int bits, float lo, float hi) {
    QErr e;
    if (!p->scale) qparams_init(p, bits, 0, QGRAN_TENSOR, 0, 1, 1, &e);
    qparams_set_range(p, 0, lo, hi);
}

int nn_cnn_qat_train(const NnCnn *m0, const NnDataset *train, const NnQatOpts *o, NnCnnQatResult *r, QErr *err) {
    memset(r, 0, sizeof *r);
    if (o->wbits < 2 || o->wbits > 8) return qerr_set(err, "weight bits must be 2..8, got %d", o->wbits);
    if (o->abits != 0 && (o->abits < 2 || o->abits > 8)) return qerr_set(err, "activation bits must be 2..8, got %d", o->abits);
    if (o->batch < 1 || train->n < 1) return qerr_set(err, "QAT needs a batch size and training images");
    double t0 = qtime_now();
    int old_blas = qblas_threads_swap(1);
    NnCnn *m = &r->master;
    nn_cnn_copy(m, m0);
    r->wbits = o->wbits;
    r->abits = o->abits;
    const int Bmax = o->batch, lsq = o->method == NN_QAT_LSQ, abits = o->abits;
    const int qn = -(1 << (o->wbits - 1)), qp = (1 << (o->wbits - 1)) - 1;
    const int aqp = abits ? (1 << abits) - 1 : 0; /* inputs are >= 0 (pixels, ReLU): unsigned grid */
    const int64_t in_n[3] = {784, (int64_t)CNN_C1 * 169, CNN_FLAT};
    Acts a;
    cnn_acts_init(&a, Bmax);
    float *wq[3], *xq[3], *dxq[3], *gsw[3], *msw[3], *vsw[3], sa[3] = {0}, gsa[3] = {0}, msa[3] = {0}, vsa[3] = {0};
    uint8_t *wmask[3], *amask[3];
    float *g[CNN_NPARAM], *mo[CNN_NPARAM], *ve[CNN_NPARAM];
    FqEma ema[3];
    memset(ema, 0, sizeof ema);
    for (int i = 0; i < CNN_NPARAM; i++) {
        g[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
        mo[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
        ve[i] = xcalloc((size_t)nn_cnn_param_size[i], sizeof(float));
    }
    for (int l = 0; l < 3; l++) {
        const int N = nn_cnn_wrows[l], K = nn_cnn_wcols[l];
        wq[l] = xmalloc((size_t)N * K * sizeof(float));
        wmask[l] = xmalloc((size_t)N * K);
        xq[l] = xmalloc((size_t)Bmax * in_n[l] * sizeof(float));
        dxq[l] = xmalloc((size_t)Bmax * in_n[l] * sizeof(float));
        amask[l] = xmalloc((size_t)Bmax * in_n[l]);
        r->wscale[l] = xmalloc((size_t)N * sizeof(float));
        gsw[l] = xcalloc((size_t)N, sizeof(float));
        msw[l] = xcalloc((size_t)N, sizeof(float));
        vsw[l] = xcalloc((size_t)N, sizeof(float));
        nn_qat_minmax_row_scales(m->p[2 * l], N, K, o->wbits, r->wscale[l]);
        if (lsq) /* LSQ's initial step 2 <|w|> / sqrt(qp) per row */
            for (int n = 0; n < N; n++) {
                double mean = 0;
                for (int k = 0; k < K; k++) mean += fabsf(m->p[2 * l][(size_t)n * K + k]);
                r->wscale[l][n] = (float)fmax(2 * mean / K / sqrt((double)qp), 1e-6);
            }
    }
    if (lsq && abits) { /* input steps from the first batch: LSQ's 2 <|x|> / sqrt(qp) */
        int B = (int)(train->n < Bmax ? train->n : Bmax);
        memcpy(a.x, train->images, (size_t)B * 784 * sizeof(float));
        conv2d_forward(a.c1, a.x, m->p[0], m->p[1], a.col, B, 1, 28, 28, CNN_C1, 3);
        relu_forward(a.c1, a.c1, (int64_t)B * CNN_C1 * 676);
        maxpool2_forward(a.p1, a.a1, a.c1, B, CNN_C1, 26, 26);
        conv2d_forward(a.c2, a.p1, m->p[2], m->p[3], a.col, B, CNN_C1, 13, 13, CNN_C2, 3);
        relu_forward(a.c2, a.c2, (int64_t)B * CNN_C2 * 121);
        maxpool2_forward(a.p2, a.a2, a.c2, B, CNN_C2, 11, 11);
        const float *src[3] = {a.x, a.p1, a.p2};
        for (int l = 0; l < 3; l++) {
            double mean = 0;
            for (int64_t i = 0; i < B * in_n[l]; i++) mean += fabsf(src[l][i]);
            sa[l] = (float)fmax(2 * mean / (double)(B * in_n[l]) / sqrt((double)aqp), 1e-6);
        }
        /* except the image's: no gradient reaches it, so it is not learned and takes the
         * pixels' range as STE and PTQ do (at 8 bits, 1/255: pixels quantize exactly) */
        float hi = 0;
        for (int64_t i = 0; i < B * in_n[0]; i++) hi = fmaxf(hi, a.x[i]);
        sa[0] = hi > 0 ? hi / (float)aqp : 1.0f / (float)aqp;
    }
    CnnScratch sc;
    cnn_scratch_init(&sc, Bmax, train->n);
    float *probs = sc.probs, *dlog = sc.dlog, *dp2 = sc.dp2, *dc2 = sc.dc2, *dp1 = sc.dp1, *dc1 = sc.dc1;
    uint8_t *yb = sc.yb;
    int32_t *order = sc.order;
    QRng rng;
    qrng_seed(&rng, o->seed);
    QProgress prog;
    qprogress_init(&prog);
    int step = 0;
    nn_curve_init(&r->curve, o->epochs);
    const int64_t nbpe = (train->n + Bmax - 1) / Bmax;
    for (int ep = 0; ep < o->epochs; ep++) {
        double te = qtime_now(), loss = 0;
        int64_t hits = 0, seen = 0;
        qrng_shuffle_i32(&rng, order, train->n);
        for (int64_t i0 = 0; i0 < train->n; i0 += Bmax) {
            int B = (int)(train->n - i0 < Bmax ? train->n - i0 : Bmax);
            cnn_batch_gather(&a, yb, train, order + i0, B);
            for (int l = 0; l < 3; l++) {
                if (!lsq) nn_qat_minmax_row_scales(m->p[2 * l], nn_cnn_wrows[l], nn_cnn_wcols[l], o->wbits, r->wscale[l]);
                nn_qat_quant_rows(m->p[2 * l], r->wscale[l], nn_cnn_wrows[l], nn_cnn_wcols[l], qn, qp, wq[l], wmask[l]);
            }
            /* forward with quantized weights and (abits > 0) quantized layer inputs */
            float *src[3] = {a.x, a.p1, a.p2}, *in[3];
            for (int l = 0; l < 3; l++) {
                if (l == 0) {
                    in[0] = a.x;
                } else if (l == 1) {
                    conv2d_forward(a.c1, in[0], wq[0], m->p[1], a.col, B, 1, 28, 28, CNN_C1, 3);
                    relu_forward(a.c1, a.c1, (int64_t)B * CNN_C1 * 676);
                    maxpool2_forward(a.p1, a.a1, a.c1, B, CNN_C1, 26, 26);
                } else {
                    conv2d_forward(a.c2, in[1], wq[1], m->p[3], a.col, B, CNN_C1, 13, 13, CNN_C2, 3);
                    relu_forward(a.c2, a.c2, (int64_t)B * CNN_C2 * 121);
                    maxpool2_forward(a.p2, a.a2, a.c2, B, CNN_C2, 11, 11);
                }
                const int64_t n = (int64_t)B * in_n[l];
                in[l] = src[l];
                if (!abits) continue;
                if (lsq) {
                    lsq_forward(src[l], xq[l], n, sa[l], 0, aqp);
                } else {
                    if (step < o->freeze_steps || !r->act[l].scale) {
                        fq_ema_update(&ema[l], src[l], n);
                        act_params(&r->act[l], abits, ema[l].lo, ema[l].hi);
                    }
                    QParams p = r->act[l];
                    p.rows = 1;
                    p.cols = n;
                    fq_forward(&p, src[l], xq[l], amask[l]);
                }
                in[l] = xq[l];
            }
            linear_forward(a.logits, in[2], wq[2], m->p[5], B, CNN_FLAT, 10);
            int correct;
            double bl = softmax_xent_forward(probs, a.logits, yb, B, 10, &correct) * B;
            loss += bl;
            hits += correct;
            seen += B;
            nn_curve_batch(&r->curve, i0 / Bmax, nbpe, bl, correct, B);
            /* backward: to the quantized inputs, then through their quantizers (STE mask or LSQ) */
            softmax_xent_backward(dlog, probs, yb, B, 10);
            linear_backward(abits ? dxq[2] : dp2, g[4], g[5], dlog, in[2], wq[2], B, CNN_FLAT, 10);
            if (abits) {
                if (lsq) gsa[2] = (float)lsq_backward(a.p2, dxq[2], dp2, (int64_t)B * in_n[2], sa[2], 0, aqp);
                else fq_ste_backward(amask[2], dxq[2], dp2, (int64_t)B * in_n[2]);
            }
            maxpool2_backward(dc2, dp2, a.a2, B, CNN_C2, 11, 11);
            relu_backward(dc2, dc2, a.c2, (int64_t)B * CNN_C2 * 121);
            conv2d_backward(abits ? dxq[1] : dp1, g[2], g[3], dc2, in[1], wq[1], a.col, a.dcol, B, CNN_C1, 13, 13, CNN_C2, 3);
            if (abits) {
                if (lsq) gsa[1] = (float)lsq_backward(a.p1, dxq[1], dp1, (int64_t)B * in_n[1], sa[1], 0, aqp);
                else fq_ste_backward(amask[1], dxq[1], dp1, (int64_t)B * in_n[1]);
            }
            maxpool2_backward(dc1, dp1, a.a1, B, CNN_C1, 26, 26);
            relu_backward(dc1, dc1, a.c1, (int64_t)B * CNN_C1 * 676);
            conv2d_backward(NULL, g[0], g[1], dc1, in[0], wq[0], a.col, a.dcol, B, 1, 28, 28, CNN_C1, 3);
            /* g[2l] holds dL/dWq: straight through to the master weights, or LSQ */
            for (int l = 0; l < 3; l++) {
                const int N = nn_cnn_wrows[l], K = nn_cnn_wcols[l];
                if (lsq) {
                    for (int n = 0; n < N; n++) {
                        float *gr = g[2 * l] + (size_t)n * K;
                        gsw[l][n] = (float)lsq_backward(m->p[2 * l] + (size_t)n * K, gr, gr, K, r->wscale[l][n], qn, qp);
                    }
                } else {
                    fq_ste_backward(wmask[l], g[2 * l], g[2 * l], (int64_t)N * K);
                }
            }
            step++;
            for (int i = 0; i < CNN_NPARAM; i++) adam_update(m->p[i], g[i], mo[i], ve[i], nn_cnn_param_size[i], o->lr, step);
            /* LSQ scales the steps' gradients by g = 1 / sqrt(N qp) so that, under SGD, a step
             * moves at a rate matched to its size; Adam divides any gradient scale away, so the
             * qp part goes on the steps' learning rate instead: lr / sqrt(qp).  Without it an
             * 8-bit step (small) random-walks by about its own size per epoch (W8A8 fell 1.5
             * points below PTQ). */
            if (lsq)
                for (int l = 0; l < 3; l++) {
                    adam_update(r->wscale[l], gsw[l], msw[l], vsw[l], nn_cnn_wrows[l], o->lr / sqrtf((float)qp), step);
                    for (int n = 0; n < nn_cnn_wrows[l]; n++) r->wscale[l][n] = fmaxf(r->wscale[l][n], 1e-8f);
                    if (abits && l > 0) adam_update(&sa[l], &gsa[l], &msa[l], &vsa[l], 1, o->lr / sqrtf((float)aqp), step);
                    sa[l] = fmaxf(sa[l], 1e-8f);
                }
            if ((step & 15) == 0) {
                qprogress_frac(&prog, (ep + (double)(i0 + B) / (double)train->n) / o->epochs);
                qprogress_update(&prog, "cnn qat epoch %d/%d  %5.1f%%  loss %.4f", ep + 1, o->epochs,
                                 100.0 * (double)(i0 + B) / (double)train->n, loss / (double)seen);
            }
        }
        qprogress_done(&prog);
        if (o->verbose)
            qlog("cnn qat %s W%dA%d epoch %d/%d  loss %.4f  train acc %.2f%%  %.2fs", lsq ? "lsq" : "ste", o->wbits, abits,
                 ep + 1, o->epochs, loss / (double)seen, 100.0 * (double)hits / (double)seen, qtime_now() - te);
    }
    /* the final grids */
    for (int l = 0; l < 3; l++) {
        if (!lsq) nn_qat_minmax_row_scales(m->p[2 * l], nn_cnn_wrows[l], nn_cnn_wcols[l], o->wbits, r->wscale[l]);
        if (abits && lsq) { /* unsigned [0, aqp] * s  ==  signed codes with zero-point qmin */
            act_params(&r->act[l], abits, 0.0f, 1.0f);
            r->act[l].scale[0] = sa[l];
            r->act[l].zero[0] = r->act[l].qmin;
        }
    }
    for (int i = 0; i < CNN_NPARAM; i++) {
        free(g[i]);
        free(mo[i]);
        free(ve[i]);
    }
    for (int l = 0; l < 3; l++) {
        free(wq[l]);
        free(wmask[l]);
        free(xq[l]);
        free(dxq[l]);
        free(amask[l]);
        free(gsw[l]);
        free(msw[l]);
        free(vsw[l]);
    }
    cnn_scratch_free(&sc);
    cnn_acts_free(&a);
    qblas_threads_swap(old_blas);
    r->seconds = qtime_now() - t0;
    return 0;
}

void nn_cnn_qat_result_free(NnCnnQatResult *r) {
    for (int l = 0; l < 3; l++) {
        if (r->act[l].scale) qparams_free(&r->act[l]);
        free(r->wscale[l]);
    }
    nn_cnn_free(&r->master);
    memset(r, 0, sizeof *r);
}

void nn_cnn_qat_fake_model(const NnCnnQatResult *r, NnCnn *fq) {
    nn_cnn_copy(fq, &r->master);
    const int qn = -(1 << (r->wbits - 1)), qp = (1 << (r->wbits - 1)) - 1;
    for (int l = 0; l < 3; l++)
        nn_qat_quant_rows(r->master.p[2 * l], r->wscale[l], nn_cnn_wrows[l], nn_cnn_wcols[l], qn, qp, fq->p[2 * l], NULL);
}
