/* report_nn.c — `quant ptq-nn` and `quant qat`: accuracy against bits per weight with the
 * Pareto front, one layer's weights before and after quantization on the grid, and the
 * fine-tuning curves of STE, LSQ and the fp32 control. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

enum { MAXP = 512 };

typedef struct Pt {
    double x, y;
    char family[64];
} Pt;

/* The points no other point beats: none with at most its bits and a higher accuracy. */
static int pareto(const Pt *p, int n, double *fx, double *fy) {
    int *idx = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int)), m = 0;
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort by bits, then accuracy descending */
        for (int j = i; j > 0; j--) {
            const Pt *a = &p[idx[j - 1]], *b = &p[idx[j]];
            if (a->x > b->x || (a->x == b->x && a->y < b->y)) {
                int t = idx[j];
                idx[j] = idx[j - 1];
                idx[j - 1] = t;
            } else break;
        }
    double best = -INFINITY;
    for (int i = 0; i < n; i++)
        if (p[idx[i]].y > best) {
            best = p[idx[i]].y;
            fx[m] = p[idx[i]].x;
            fy[m++] = best;
        }
    free(idx);
    return m;
}

/* accuracy (%) against bits per weight: one point series per family, then the front */
static void accuracy_plot(RPage *pg, const Pt *pts, int n, const char *title, const char *ylabel, const char *caption) {
    if (n == 0) return;
    char id[16];
    SvgPlot p;
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), title, "bits per weight (file or packed size × 8 / weights)", ylabel);
    p.height = 380;
    p.x.log = 1;
    char fam[24][64];
    int nf = 0;
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < nf && strcmp(fam[k], pts[i].family) != 0) k++;
        if (k == nf && nf < 22) snprintf(fam[nf++], 64, "%s", pts[i].family);
    }
    double *x = xmalloc((size_t)n * sizeof(double)), *y = xmalloc((size_t)n * sizeof(double));
    for (int f = 0; f < nf; f++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(pts[i].family, fam[f]) == 0) {
                x[m] = pts[i].x;
                y[m++] = pts[i].y;
            }
        SvgSeries *s = svg_plot_add(&p, fam[f], SVG_POINTS, x, y, m);
        if (s) s->marker = f;
    }
    int m = pareto(pts, n, x, y);
    SvgSeries *s = svg_plot_add(&p, "Pareto front", SVG_LINE, x, y, m);
    if (s) {
        s->color = -1;
        s->dashed = 1;
        s->width = 1.5;
    }
    free(x);
    free(y);
    page_figure(pg, &p, caption);
}

static void ptq_weight_histograms(RPage *pg, const RRun *r) {
    const cJSON *h = rj_obj(pg, r, r->root, "weight_histogram"), *e;
    if (!h) {
        page_p(pg, "(no weight histogram in this run: it records no weight-only width)");
        return;
    }
    double lo = rj_num(pg, r, h, "lo", 0), hi = rj_num(pg, r, h, "hi", 0), *c;
    int nb = rj_nums(pg, r, rj_arr(pg, r, h, "counts"), "weight_histogram.counts", 4096, &c);
    if (nb <= 0 || !(hi > lo)) {
        free(c);
        return;
    }
    double total = 0, w = (hi - lo) / nb;
    for (int k = 0; k < nb; k++) total += c[k];
    if (!(total > 0)) total = 1;
    double *edges = xmalloc((size_t)(nb + 1) * sizeof(double)), *dens = xmalloc((size_t)nb * sizeof(double));
    for (int k = 0; k <= nb; k++) edges[k] = lo + w * k;
    for (int k = 0; k < nb; k++) dens[k] = c[k] / total;
    cJSON_ArrayForEach(e, rj_arr(pg, r, h, "quantized")) {
        int bits = rj_int(pg, r, e, "bits", 0), qmin = rj_int(pg, r, e, "qmin", 0), qmax = rj_int(pg, r, e, "qmax", -1);
        double sc = rj_num(pg, r, e, "scale", 0), *lc;
        int nl = rj_nums(pg, r, rj_arr(pg, r, e, "level_counts"), "level_counts", 65536, &lc);
        if (pg->failed || nl != qmax - qmin + 1 || !(sc > 0)) {
            free(lc);
            if (!pg->failed) rj_fail(pg, r, "weight_histogram.quantized: level_counts must hold qmax - qmin + 1 values");
            break;
        }
        /* after quantization the weights sit on the levels: a narrow spike per level, its height
         * the share of weights there, with empty bins between the spikes */
        double half = 0.3 * fmin(w, sc);
        double *qe = xmalloc((size_t)(2 * nl) * sizeof(double)), *qd = xmalloc((size_t)(2 * nl) * sizeof(double)),
               *lv = xmalloc((size_t)nl * sizeof(double));
        double at0 = 0;
        int used = 0;
        for (int k = 0; k < nl; k++) {
            used += lc[k] > 0;
            lv[k] = sc * (qmin + k);
            qe[2 * k] = lv[k] - half;
            qe[2 * k + 1] = lv[k] + half;
            qd[2 * k] = lc[k] / total;
            if (k + 1 < nl) qd[2 * k + 1] = 0;
            if (qmin + k == 0) at0 = lc[k] / total;
        }
        char id[16], title[200], cap[420];
        /* per tensor: the whole layer on one grid; per channel: one output channel on its own */
        int ch = rj_int(pg, r, h, "channel", -1), lay = rj_int(pg, r, h, "layer", 0), nin = rj_int(pg, r, h, "in", 0);
        if (ch >= 0)
            snprintf(title, sizeof title, "Layer %d weights, output channel %d (%d weights): fp32 and %d-bit, symmetric per channel",
                     lay, ch, nin, bits);
        else
            snprintf(title, sizeof title, "Layer %d weights (%d × %d): fp32 and %d-bit, symmetric per tensor", lay,
                     rj_int(pg, r, h, "out", 0), nin, bits);
        SvgPlot p;
        svg_plot_init(&p, page_fig_id(pg, id, sizeof id), title, "weight value", "share of weights (log scale)");
        p.height = 340;
        p.y.log = 1;
        SvgSeries *s;
        if (nl <= 64) {
            s = svg_plot_add(&p, "grid levels s·q", SVG_VLINES, lv, NULL, nl);
            s->color = -1;
            s->width = 0.8;
        }
        s = svg_plot_add(&p, "fp32 weights, per bin", SVG_STEPS, edges, dens, nb);
        s->color = 0;
        s->filled = 1;
        snprintf(cap, sizeof cap, "%d-bit weights, per level", bits);
        s = svg_plot_add(&p, cap, SVG_STEPS, qe, qd, 2 * nl - 1);
        s->color = 1;
        s->width = 1.6;
        p.x.lo = fmin(lo, lv[0] - half);
        p.x.hi = fmax(hi, lv[nl - 1] + half);
        double pad = 0.03 * (p.x.hi - p.x.lo);
        p.x.lo -= pad;
        p.x.hi += pad;
        p.y.lo = 0.5 / total;
        p.y.hi = 1.5;
        snprintf(cap, sizeof cap,
                 "Every weight moves to its nearest level (step %.4g%s): the bell becomes spikes on %d of the %d levels, and "
                 "%.1f%% of the weights land on 0 at %d bits — the fewer the levels, the more of the bell collapses onto a few.",
                 sc, ch >= 0 ? ", this channel's own" : "", used, nl, 100 * at0, bits);
        page_figure(pg, &p, cap);
        free(qe);
        free(qd);
        free(lv);
        free(lc);
    }
    free(edges);
    free(dens);
    free(c);
}

void report_ptq_nn(RPage *pg, const RRun *runs, int n) {
    page_h2(pg, "quant ptq-nn: post-training quantization of a Fashion-MNIST network");
    Pt *pts = xcalloc(MAXP, sizeof(Pt));
    int np = 0;
    for (int i = 0; i < n && !pg->failed; i++) {
        const RRun *r = &runs[i];
        page_p(pg, "%s%s: %s, %.0f training epochs (0: loaded), %.0f test images, activations calibrated on %.0f images "
                   "with the %s observer; int8 kernels: %s; integer vs fake-quant agreement %.2f%%.",
               n > 1 ? "Protocol of " : "Protocol", n > 1 ? r->name : "", rj_str(pg, r, r->root, "arch", "mlp"),
               rj_num(pg, r, r->root, "epochs", 0), rj_num(pg, r, r->root, "test_images", 0), rj_num(pg, r, r->root, "calib_samples", 0),
               rj_str(pg, r, r->root, "observer", "?"), rj_str(pg, r, r->root, "isa", "?"),
               100 * rj_num(pg, r, r->root, "agreement_int_vs_fakequant", 0));
        double weights = rj_num(pg, r, r->root, "weights", 0);
        const cJSON *e;
        cJSON_ArrayForEach(e, rj_arr(pg, r, r->root, "rows")) {
            if (np >= MAXP) break;
            const char *m = rj_str(pg, r, e, "method", "?");
            double bpw = rj_num(pg, r, e, "bits_per_weight", NAN);
            if (!isfinite(bpw) && weights > 0) bpw = 8 * rj_num(pg, r, e, "bytes", 0) / weights;
            if (!isfinite(bpw)) bpw = rj_num(pg, r, e, "weight_bits", 32);
            pts[np].x = bpw;
            pts[np].y = 100 * rj_num(pg, r, e, "accuracy", 0);
            /* the 2-bit observer comparison rows are their own family */
            const char *obs = rj_str(pg, r, e, "observer", "-");
            char what[64];
            if (strncmp(m, "weight-only", 11) == 0 && strcmp(obs, rj_str(pg, r, r->root, "observer", obs)) != 0)
                snprintf(what, sizeof what, "%s, %s", m, obs);
            else if (strncmp(m, "weight-only", 11) == 0)
                snprintf(what, sizeof what, "%s, %s", m, rj_str(pg, r, e, "granularity", "?"));
            else snprintf(what, sizeof what, "%s", m);
            run_label(r, n, what, pts[np].family, sizeof pts[np].family);
            np++;
        }
    }
    accuracy_plot(pg, pts, np, "Test accuracy against bits per weight", "test accuracy (%)",
                  "Up and to the left is better; the dashed line joins the points no other point beats (the Pareto front): "
                  "read off the width where accuracy starts to fall, and which scheme holds it longest.");
    free(pts);
    for (int i = 0; i < n && !pg->failed; i++) {
        if (n > 1) page_h3(pg, runs[i].name);
        ptq_weight_histograms(pg, &runs[i]);
    }
}

static int is_qat(const char *m) { return strncmp(m, "QAT", 3) == 0; }

void report_qat(RPage *pg, const RRun *runs, int n) {
    page_h2(pg, "quant qat: quantization-aware training");
    Pt *pts = xcalloc(MAXP, sizeof(Pt));
    int np = 0;
    for (int i = 0; i < n && !pg->failed; i++) {
        const RRun *r = &runs[i];
        page_p(pg, "%s%s: %s, %.0f fine-tuning epochs at learning rate %g for QAT and for the fp32 control, %.0f test images; "
                   "accuracy of the fake-quant model (integer rows agree with it).",
               n > 1 ? "Protocol of " : "Protocol", n > 1 ? r->name : "", rj_str(pg, r, r->root, "arch", "mlp"),
               rj_num(pg, r, r->root, "epochs", 0), rj_num(pg, r, r->root, "lr", 0), rj_num(pg, r, r->root, "test_images", 0));
        const cJSON *e;
        cJSON_ArrayForEach(e, rj_arr(pg, r, r->root, "rows")) {
            if (np >= MAXP) break;
            const char *m = rj_str(pg, r, e, "method", "?");
            double bpw = rj_num(pg, r, e, "bits_per_weight", NAN);
            if (!isfinite(bpw)) bpw = rj_num(pg, r, e, "weight_bits", 32);
            pts[np].x = bpw;
            pts[np].y = 100 * rj_num(pg, r, e, "accuracy_fake_quant", 0);
            char what[64];
            snprintf(what, sizeof what, "%s A%.0f", m, rj_num(pg, r, e, "act_bits", 32));
            if (rj_num(pg, r, e, "act_bits", 32) == 32) snprintf(what, sizeof what, "%s", m);
            run_label(r, n, what, pts[np].family, sizeof pts[np].family);
            np++;
        }
    }
    accuracy_plot(pg, pts, np, "Test accuracy against bits per weight: PTQ, QAT (STE, LSQ), fp32", "test accuracy (%)",
                  "Compare each QAT point with the PTQ point at the same bits: the gap is what training with the rounding in "
                  "the loop recovers; the dashed line is the Pareto front.");
    free(pts);
    /* the curves: loss and training accuracy per epoch */
    for (int pass = 0; pass < 2 && !pg->failed; pass++) {
        char id[16];
        SvgPlot p;
        svg_plot_init(&p, page_fig_id(pg, id, sizeof id),
                      pass ? "Training accuracy per epoch (fake-quant forward)" : "Training loss per epoch (fake-quant forward)", "epoch",
                      pass ? "training accuracy (%, running mean)" : "cross-entropy loss (running mean)");
        p.height = 380;
        p.x.lo = 0;
        p.x.hi = 0;
        int any = 0;
        for (int i = 0; i < n; i++) {
            const RRun *r = &runs[i];
            const cJSON *e;
            cJSON_ArrayForEach(e, rj_arr(pg, r, r->root, "rows")) {
                const cJSON *c = rj_obj(pg, r, e, "curve");
                if (!c) continue;
                double *v, ppe = rj_num(pg, r, c, "points_per_epoch", 1);
                int k = rj_nums(pg, r, rj_arr(pg, r, c, pass ? "train_accuracy" : "loss"), "curve", 100000, &v);
                if (k <= 0 || !(ppe >= 1)) {
                    free(v);
                    continue;
                }
                double *x = xmalloc((size_t)k * sizeof(double));
                for (int j = 0; j < k; j++) {
                    x[j] = (j + 1) / ppe;
                    if (pass) v[j] *= 100;
                }
                const char *m = rj_str(pg, r, e, "method", "?");
                char what[64], lab[96];
                int wb = rj_int(pg, r, e, "weight_bits", 32), ab = rj_int(pg, r, e, "act_bits", 32);
                if (is_qat(m)) snprintf(what, sizeof what, "%s W%dA%d", m, wb, ab);
                else snprintf(what, sizeof what, "%s (control)", m);
                run_label(r, n, what, lab, sizeof lab);
                SvgSeries *s = svg_plot_add(&p, lab, SVG_LINE, x, v, k);
                if (s) {
                    /* colour: the method; dash: the width (solid for the lowest bits, the hardest) */
                    s->color = !is_qat(m) ? 6 : strstr(m, "LSQ") ? 1 : 0;
                    s->dashed = is_qat(m) && wb >= 8;
                    s->width = is_qat(m) && wb <= 2 ? 2.5 : 1.6;
                    if (is_qat(m) && wb == 4) s->color += 2;
                }
                any = 1;
                if (x[k - 1] > p.x.hi) p.x.hi = x[k - 1]; /* the axis ends at the last epoch */
                free(x);
                free(v);
            }
        }
        if (!any) {
            svg_plot_free(&p);
            page_p(pg, "(no training curves in this JSON: no row records a curve)");
            break;
        }
        page_figure(pg, &p,
                    pass ? "Accuracy while training (running mean over each segment): compare each fake-quant curve with the "
                           "fp32 control (black) and STE (blue) with LSQ (vermillion) at the same width."
                         : "Loss while training, a point per segment of an epoch: the gap between a QAT curve and the fp32 "
                           "control (black) is what its bit width still costs.");
    }
}
