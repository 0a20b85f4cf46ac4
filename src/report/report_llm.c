/* report_llm.c — `quant ptq-llm`: perplexity against bits per weight (with the user's reference
 * points), the relative error block after block, the outlier channels per site, the tuning losses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

/* "gptq w4 g32", "rtn w3", "w8a8 token" */
static void variant_name(RPage *pg, const RRun *r, const cJSON *e, char *buf, size_t n) {
    const char *m = rj_str(pg, r, e, "method", "?");
    int wb = rj_int(pg, r, e, "weight_bits", 32), ab = rj_int(pg, r, e, "act_bits", 32);
    long long g = (long long)rj_int(pg, r, e, "group_size", 0);
    if (ab != 32 || wb == 32) snprintf(buf, n, "%s", m);
    else if (g > 0) snprintf(buf, n, "%s w%d g%lld", m, wb, g);
    else snprintf(buf, n, "%s w%d", m, wb);
}

/* colour by weight width, so RTN and GPTQ of one width share it */
static int width_color(int wb) { return wb >= 8 ? 2 : wb == 4 ? 0 : wb == 3 ? 1 : wb == 2 ? 3 : 4; }

typedef struct Anchor {
    char label[96];
    double bpw, ppl;
} Anchor;

/* --compare file: {"anchors": [{"label", "bits_per_weight", "perplexity"}, ...]} */
static int read_anchors(RPage *pg, const cJSON *j, const char *name, Anchor *a, int max) {
    RRun r = {j, name ? name : "--compare file"};
    const cJSON *arr = rj_arr(pg, &r, j, "anchors"), *e;
    if (!arr) return pg->failed ? -1 : rj_fail(pg, &r, "expected an array \"anchors\" at the top");
    int n = 0;
    cJSON_ArrayForEach(e, arr) {
        if (n >= max) return rj_fail(pg, &r, "anchors: at most %d reference points", max);
        if (!cJSON_IsObject(e)) return rj_fail(pg, &r, "anchors[%d]: expected an object", n);
        const char *l = rj_str(pg, &r, e, "label", NULL);
        a[n].bpw = rj_num(pg, &r, e, "bits_per_weight", NAN);
        a[n].ppl = rj_num(pg, &r, e, "perplexity", NAN);
        if (pg->failed) return -1;
        if (!l || !(a[n].bpw > 0 && a[n].bpw <= 64) || !(a[n].ppl > 0))
            return rj_fail(pg, &r, "anchors[%d]: needs \"label\" (string), \"bits_per_weight\" in (0, 64] and \"perplexity\" > 0", n);
        snprintf(a[n].label, sizeof a[n].label, "%s", l);
        n++;
    }
    return n;
}

int report_anchors_check(RPage *pg, const cJSON *anchors, const char *name) {
    Anchor a[16];
    return read_anchors(pg, anchors, name, a, 16) < 0 ? -1 : 0;
}

static void ppl_plot(RPage *pg, const RRun *runs, int n, const cJSON *anchors, const char *anchors_name) {
    char id[16], lab[128];
    SvgPlot p;
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), "Perplexity against bits per weight", "bits per weight (scales included)",
                  "perplexity");
    p.height = 400;
    double ymin = INFINITY, ymax = -INFINITY, xmin = INFINITY, xmax = -INFINITY;
    for (int i = 0; i < n; i++) {
        const RRun *r = &runs[i];
        const cJSON *rows = rj_arr(pg, r, r->root, "rows"), *e;
        /* one series per method: weight-only methods as lines over their widths, W8A8 rows as points */
        char meth[16][32];
        int nm = 0;
        cJSON_ArrayForEach(e, rows) {
            const char *m = rj_str(pg, r, e, "method", "?");
            if (rj_num(pg, r, e, "weight_bits", 32) == 32) continue;
            int k = 0;
            while (k < nm && strcmp(meth[k], m) != 0) k++;
            if (k == nm && nm < 16) snprintf(meth[nm++], 32, "%s", m);
        }
        double fp = NAN;
        for (int k = 0; k < nm; k++) {
            double x[64], y[64];
            int c = 0;
            cJSON_ArrayForEach(e, rows) {
                if (rj_num(pg, r, e, "weight_bits", 32) == 32) {
                    fp = rj_num(pg, r, e, "perplexity", NAN);
                    continue;
                }
                if (strcmp(rj_str(pg, r, e, "method", "?"), meth[k]) != 0 || c >= 64) continue;
                x[c] = rj_num(pg, r, e, "bits_per_weight", NAN);
                y[c] = rj_num(pg, r, e, "perplexity", NAN);
                if (isfinite(x[c]) && isfinite(y[c]) && y[c] > 0) {
                    ymin = fmin(ymin, y[c]);
                    ymax = fmax(ymax, y[c]);
                    xmin = fmin(xmin, x[c]);
                    xmax = fmax(xmax, x[c]);
                }
                c++;
            }
            for (int a = 1; a < c; a++) /* by bits */
                for (int b = a; b > 0 && x[b - 1] > x[b]; b--) {
                    double t = x[b];
                    x[b] = x[b - 1];
                    x[b - 1] = t;
                    t = y[b];
                    y[b] = y[b - 1];
                    y[b - 1] = t;
                }
            char what[48];
            snprintf(what, sizeof what, "%s", meth[k]);
            if (strcmp(meth[k], "rtn") == 0) snprintf(what, sizeof what, "RTN");
            if (strcmp(meth[k], "gptq") == 0) snprintf(what, sizeof what, "GPTQ (+ refit, tuning)");
            run_label(r, n, what, lab, sizeof lab);
            int w8 = strncmp(meth[k], "w8a8", 4) == 0;
            SvgSeries *s = svg_plot_add(&p, lab, w8 ? SVG_POINTS : SVG_LINEPOINTS, x, y, c);
            if (s) {
                s->marker = k;
                s->color = (i * 5 + k) % 8;
            }
        }
        if (isfinite(fp)) {
            ymin = fmin(ymin, fp);
            ymax = fmax(ymax, fp);
            double fx[2] = {1.5, 9}, fy[2] = {fp, fp};
            run_label(r, n, "fp32", lab, sizeof lab);
            SvgSeries *s = svg_plot_add(&p, lab, SVG_LINE, fx, fy, 2);
            if (s) {
                s->color = 6;
                s->dashed = 1;
                s->width = 1.2;
            }
        }
    }
    Anchor an[16];
    int na = anchors ? read_anchors(pg, anchors, anchors_name, an, 16) : 0;
    if (na > 0) {
        double x[16], y[16];
        for (int k = 0; k < na; k++) {
            x[k] = an[k].bpw;
            y[k] = an[k].ppl;
            ymin = fmin(ymin, y[k]);
            ymax = fmax(ymax, y[k]);
            xmin = fmin(xmin, x[k]);
            xmax = fmax(xmax, x[k]);
            if (k < SVG_MAX_NOTES - 1) svg_plot_note(&p, x[k] + 0.08, y[k], 1, an[k].label);
        }
        const char *base = anchors_name ? strrchr(anchors_name, '/') : NULL;
        snprintf(lab, sizeof lab, "reference points (%s)", base ? base + 1 : anchors_name ? anchors_name : "--compare");
        SvgSeries *s = svg_plot_add(&p, lab, SVG_POINTS, x, y, na);
        if (s) {
            s->color = 6;
            s->marker = 3;
        }
    }
    if (!(xmin <= xmax)) {
        svg_plot_free(&p);
        return;
    }
    p.x.lo = floor(xmin) - 0.25;
    p.x.hi = ceil(xmax) + 0.25;
    /* stretch the fp32 lines over the drawn range */
    for (int k = 0; k < p.n_series; k++)
        if (p.series[k].kind == SVG_LINE && p.series[k].n == 2 && p.series[k].dashed) {
            p.series[k].x[0] = p.x.lo;
            p.series[k].x[1] = p.x.hi;
        }
    p.y.log = ymax / ymin > 3;
    if (p.y.log) free(p.y.label), p.y.label = xstrdup("perplexity (log scale)");
    page_figure(pg, &p,
                "Lower and to the left is better; the dashed line is the fp32 model. Perplexity climbs as bits fall; the gap "
                "between RTN and GPTQ at one width is what the error-aware method buys.");
}

static void block_error_plot(RPage *pg, const RRun *runs, int n) {
    char id[16], lab[128];
    SvgPlot p;
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), "Relative error of the hidden state after each block",
                  "transformer block", "||y_q − y|| / ||y||");
    p.height = 400;
    double lo = INFINITY, hi = 0;
    int nb = 0;
    for (int i = 0; i < n; i++) {
        const RRun *r = &runs[i];
        const cJSON *e;
        cJSON_ArrayForEach(e, rj_arr(pg, r, r->root, "rows")) {
            double *v;
            int k = rj_nums(pg, r, rj_arr(pg, r, e, "block_rel_error"), "block_rel_error", 4096, &v);
            if (k <= 0) continue;
            double *x = xmalloc((size_t)k * sizeof(double));
            for (int j = 0; j < k; j++) {
                x[j] = j;
                if (v[j] > 0) lo = fmin(lo, v[j]), hi = fmax(hi, v[j]);
            }
            if (k > nb) nb = k;
            char what[64];
            variant_name(pg, r, e, what, sizeof what);
            run_label(r, n, what, lab, sizeof lab);
            const char *m = rj_str(pg, r, e, "method", "?");
            int wb = rj_int(pg, r, e, "weight_bits", 32), w8 = strncmp(m, "w8a8", 4) == 0;
            SvgSeries *s = svg_plot_add(&p, lab, SVG_LINEPOINTS, x, v, k);
            if (s) {
                s->color = w8 ? (strstr(m, "token") ? 5 : strstr(m, "tensor") ? 7 : 6) : width_color(wb);
                s->dashed = strcmp(m, "rtn") == 0;
                s->marker = w8 ? 1 : strcmp(m, "rtn") == 0 ? 2 : 0;
                s->width = w8 ? 1.2 : 2;
            }
            free(x);
            free(v);
        }
    }
    if (nb == 0) {
        svg_plot_free(&p);
        return;
    }
    p.x.lo = -0.3;
    p.x.hi = nb - 0.7;
    p.y.log = hi > 0 && hi / lo > 20;
    if (p.y.log) free(p.y.label), p.y.label = xstrdup("||y_q − y|| / ||y|| (log scale)");
    page_figure(pg, &p,
                "Each block adds its own error to the one it received, so the curves rise block after block (one colour per "
                "width): compare the solid GPTQ curve with the dashed RTN curve of the same colour.");
}

static const char *site_short(const char *s) {
    if (strncmp(s, "attn-in", 7) == 0) return "attn-in";
    if (strncmp(s, "attn-out", 8) == 0) return "attn-out";
    if (strncmp(s, "ffn-in", 6) == 0) return "ffn-in";
    if (strncmp(s, "ffn-down", 8) == 0) return "ffn-down";
    return s;
}

/* The variant whose scales the outlier plots show: SmoothQuant with a per-tensor activation
 * grid (where outliers hurt most), else any SmoothQuant, else the first (AWQ); NULL: none
 * records per-channel magnitudes. */
static const cJSON *smoothing_variant(RPage *pg, const RRun *r) {
    const cJSON *arr = rj_arr(pg, r, r->root, "scales"), *v, *best = NULL;
    int best_rank = 0;
    cJSON_ArrayForEach(v, arr) {
        const cJSON *sites = rj_arr(pg, r, v, "sites"), *st = sites ? sites->child : NULL;
        if (!st || !rj_arr(pg, r, st, "channel_absmax_after")) continue;
        int sq = strcmp(rj_str(pg, r, v, "kind", "?"), "smoothquant") == 0;
        int rank = 1 + sq + (sq && strstr(rj_str(pg, r, v, "variant", ""), "tensor") != NULL);
        if (rank > best_rank) best = v, best_rank = rank;
    }
    return best;
}

/* One site's channels before (solid) and after (dashed) the variant's scales, for the two
 * layers where the largest channel towers most over the median; 0 when the variant has no
 * folded entry of this site (nothing drawn). */
static int site_before_after(RPage *pg, const RRun *r, const cJSON *var, const char *site) {
    const cJSON *e, *pick[2] = {NULL, NULL};
    double rat[2] = {0, 0};
    cJSON_ArrayForEach(e, rj_arr(pg, r, var, "sites")) {
        if (strcmp(rj_str(pg, r, e, "input_of", "?"), site) != 0 || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "folded")) ||
            !rj_arr(pg, r, e, "channel_absmax_after"))
            continue;
        double mx = rj_num(pg, r, e, "channel_absmax_max_before", 0), md = rj_num(pg, r, e, "channel_absmax_median_before", 0);
        double q = md > 0 ? mx / md : 0;
        if (!pick[0] || q > rat[0]) pick[1] = pick[0], rat[1] = rat[0], pick[0] = e, rat[0] = q;
        else if (!pick[1] || q > rat[1]) pick[1] = e, rat[1] = q;
    }
    if (!pick[0] || pg->failed) return 0;
    const char *vname = rj_str(pg, r, var, "variant", "?");
    int awq = strcmp(rj_str(pg, r, var, "kind", "?"), "awq") == 0;
    char id[16], lab[160], cap[700], part[2][200];
    SvgPlot p;
    snprintf(lab, sizeof lab, "Input channels of %s: max|x| per channel before and after %s", site, vname);
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), lab, "input channel", "max |x| over the calibration tokens");
    p.height = 330;
    int pool = 1, drawn = 0;
    for (int k = 0; k < 2 && pick[k] && !pg->failed; k++) {
        const cJSON *o = pick[k];
        int l = rj_int(pg, r, o, "layer", 0);
        pool = rj_int(pg, r, o, "channels_per_value", 1);
        if (pool < 1) pool = 1;
        double *b, *a;
        int nb = rj_nums(pg, r, rj_arr(pg, r, o, "channel_absmax_before"), "channel_absmax_before", 65536, &b);
        int na = rj_nums(pg, r, rj_arr(pg, r, o, "channel_absmax_after"), "channel_absmax_after", 65536, &a);
        if (nb <= 0 || na != nb) {
            if (!pg->failed)
                rj_fail(pg, r, "scales: layer %d %s: channel_absmax_after holds %d values, channel_absmax_before %d (expected "
                               "the same count, > 0)", l, site, na, nb);
            free(b);
            free(a);
            break;
        }
        double *x = xmalloc((size_t)nb * sizeof(double));
        for (int j = 0; j < nb; j++) x[j] = (double)j * pool;
        snprintf(lab, sizeof lab, "layer %d before", l);
        SvgSeries *sr = svg_plot_add(&p, lab, SVG_LINE, x, b, nb);
        if (sr) sr->color = k, sr->width = 1.5;
        snprintf(lab, sizeof lab, "layer %d after", l);
        sr = svg_plot_add(&p, lab, SVG_LINE, x, a, nb);
        if (sr) sr->color = k, sr->dashed = 1, sr->width = 1.8;
        double mxa = rj_num(pg, r, o, "channel_absmax_max_after", 0), mda = rj_num(pg, r, o, "channel_absmax_median_after", 0);
        const cJSON *vv = cJSON_GetObjectItemCaseSensitive(o, awq ? "power" : "alpha");
        char how[48];
        if (cJSON_IsNumber(vv)) snprintf(how, sizeof how, "%s %.2f", awq ? "p" : "α", vv->valuedouble);
        else snprintf(how, sizeof how, "no %s beat s = 1", awq ? "power" : "α");
        snprintf(part[k], sizeof part[k], "layer %d: largest channel %.1f× the median before, %.1f× after (%s)", l, rat[k],
                 mda > 0 ? mxa / mda : 0, how);
        drawn++;
        free(x);
        free(a);
        free(b);
    }
    if (pg->failed || drawn == 0) {
        svg_plot_free(&p);
        return 1;
    }
    /* towering outliers flattened: a log axis keeps the flat curve's shape visible beside them */
    double ymax = 0, ymin = INFINITY;
    for (int k = 0; k < p.n_series; k++)
        for (int j = 0; j < p.series[k].n; j++)
            if (p.series[k].y[j] > 0) ymax = fmax(ymax, p.series[k].y[j]), ymin = fmin(ymin, p.series[k].y[j]);
    p.x.lo = -0.5; /* the channels, no further */
    p.x.hi = (double)(p.series[0].n - 1) * pool + 0.5;
    if (ymax > 30 * ymin) {
        p.y.log = 1;
        free(p.y.label);
        p.y.label = xstrdup("max |x| over the calibration tokens (log scale)");
    }
    snprintf(cap, sizeof cap,
             "Solid: each input channel's max|x|%s in the layers where one towers most; dashed: the same channels once %s "
             "divided each by its scale s_j (the weights' columns take s_j) — %s%s%s.",
             pool > 1 ? " (each point the max of a few channels)" : "", vname, part[0], drawn > 1 ? "; " : "", drawn > 1 ? part[1] : "");
    page_figure(pg, &p, cap);
    return 1;
}

static void outlier_plots(RPage *pg, const RRun *r) {
    const cJSON *arr = rj_arr(pg, r, r->root, "outliers"), *e;
    if (!arr) return;
    /* the sites in order of appearance, the layers */
    char sites[8][32];
    int ns = 0, nl = 0;
    cJSON_ArrayForEach(e, arr) {
        const char *s = rj_str(pg, r, e, "input_of", "?");
        int k = 0;
        while (k < ns && strcmp(sites[k], s) != 0) k++;
        if (k == ns && ns < 8) snprintf(sites[ns++], 32, "%s", s);
        int l = rj_int(pg, r, e, "layer", 0);
        if (l < 0 || l > 100000) {
            rj_fail(pg, r, "outliers: layer %d out of range", l);
            return;
        }
        if (l + 1 > nl) nl = l + 1;
    }
    if (ns == 0 || nl == 0 || pg->failed) return;
    /* summary: max|x| over the median channel's, per layer and site */
    char id[16], lab[96], cap[400];
    SvgPlot p;
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), "Outlier ratio: largest channel max|x| over the median channel's",
                  "layer", "ratio (1 = no outlier)");
    p.height = 340;
    int ncat = nl > 64 ? 64 : nl;
    char **cats = xcalloc((size_t)ncat, sizeof(char *));
    for (int l = 0; l < ncat; l++) {
        cats[l] = xmalloc(16);
        snprintf(cats[l], 16, "%d", l);
    }
    svg_plot_categories(&p, (const char *const *)cats, ncat);
    for (int l = 0; l < ncat; l++) free(cats[l]);
    free(cats);
    double *ratio = xcalloc((size_t)ncat, sizeof(double));
    for (int s = 0; s < ns; s++) {
        for (int l = 0; l < ncat; l++) ratio[l] = NAN;
        cJSON_ArrayForEach(e, arr) {
            if (strcmp(rj_str(pg, r, e, "input_of", "?"), sites[s]) != 0) continue;
            int l = rj_int(pg, r, e, "layer", 0);
            double mx = rj_num(pg, r, e, "absmax", NAN), md = rj_num(pg, r, e, "median_channel_absmax", NAN);
            if (l < ncat && md > 0) ratio[l] = mx / md;
        }
        for (int l = 0; l < ncat; l++)
            if (ratio[l] > 20 && !p.y.log) { /* towering outliers: a log axis from 1 */
                p.y.log = 1;
                p.y.lo = 1;
                free(p.y.label);
                p.y.label = xstrdup("ratio (log scale; 1 = no outlier)");
            }
        svg_plot_add(&p, sites[s], SVG_BARS, NULL, ratio, ncat);
    }
    if (p.y.log) {
        double mx = 1;
        for (int k = 0; k < p.n_series; k++)
            for (int l = 0; l < p.series[k].n; l++)
                if (isfinite(p.series[k].y[l])) mx = fmax(mx, p.series[k].y[l]);
        p.y.hi = mx * 1.3;
    }
    free(ratio);
    page_figure(pg, &p,
                "How far the largest input channel towers over a typical one, per layer and linear-layer input: a tall bar is a "
                "site where one per-tensor activation scale must stretch over a few huge channels.");

    /* per site: each channel's max|x|; with a variant that scales the inputs, before and
     * after its scales for the most outlying layers; otherwise across a few layers */
    const cJSON *var = smoothing_variant(pg, r);
    int step = nl > 6 ? (nl + 5) / 6 : 1;
    for (int s = 0; s < ns && !pg->failed; s++) {
        if (var && site_before_after(pg, r, var, sites[s])) continue;
        snprintf(lab, sizeof lab, "Input channels of %s: max|x| per channel", sites[s]);
        svg_plot_init(&p, page_fig_id(pg, id, sizeof id), lab, "input channel", "max |x| over the calibration tokens");
        p.height = 330;
        int any = 0, pool = 1;
        cJSON_ArrayForEach(e, arr) {
            if (strcmp(rj_str(pg, r, e, "input_of", "?"), sites[s]) != 0) continue;
            int l = rj_int(pg, r, e, "layer", 0);
            if (l % step != 0 && l != nl - 1) continue;
            double *v;
            int k = rj_nums(pg, r, rj_arr(pg, r, e, "channel_absmax"), "channel_absmax", 65536, &v);
            if (k <= 0) continue;
            pool = rj_int(pg, r, e, "channels_per_value", 1);
            if (pool < 1) pool = 1;
            double *x = xmalloc((size_t)k * sizeof(double));
            for (int j = 0; j < k; j++) x[j] = (double)j * pool;
            snprintf(lab, sizeof lab, "layer %d", l);
            SvgSeries *sr = svg_plot_add(&p, lab, SVG_LINE, x, v, k);
            if (sr) {
                sr->color = (l / step) % 8;
                sr->width = 1.4;
            }
            any = 1;
            free(x);
            free(v);
        }
        if (!any) {
            svg_plot_free(&p);
            if (s == 0) page_p(pg, "(no per-channel magnitudes in this JSON)");
            break;
        }
        snprintf(cap, sizeof cap,
                 "Spikes are outlier channels of the %s input%s: a per-tensor int8 grid sized for them wastes its levels on the "
                 "rest%s.",
                 site_short(sites[s]), pool > 1 ? " (each point the max of a few channels)" : "",
                 var ? " (this input is not folded: the scales of the other sites cannot move into its weights)" : "");
        page_figure(pg, &p, cap);
    }
}

static void tuning_plots(RPage *pg, const RRun *runs, int n) {
    char id[16], lab[128];
    SvgPlot p;
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), "Block-wise tuning: each block's loss before and after", "transformer block",
                  "relative output error of the block");
    p.height = 360;
    int any = 0;
    for (int i = 0; i < n; i++) {
        const RRun *r = &runs[i];
        const cJSON *e;
        cJSON_ArrayForEach(e, rj_arr(pg, r, r->root, "rows")) {
            const cJSON *tl = rj_arr(pg, r, e, "block_tune_loss"), *pr;
            if (!tl) continue;
            int k = cJSON_GetArraySize(tl), j = 0;
            if (k > 4096) k = 4096;
            double *x = xmalloc((size_t)(k + 1) * sizeof(double)), *b = xmalloc((size_t)(k + 1) * sizeof(double)),
                   *a = xmalloc((size_t)(k + 1) * sizeof(double));
            cJSON_ArrayForEach(pr, tl) {
                if (j >= k) break;
                double *v;
                if (rj_nums(pg, r, pr, "block_tune_loss[]", 2, &v) != 2) {
                    free(v);
                    if (!pg->failed) rj_fail(pg, r, "block_tune_loss: expected [before, after] pairs");
                    break;
                }
                x[j] = j;
                b[j] = v[0];
                a[j] = v[1];
                j++;
                free(v);
            }
            char what[64], w2[96];
            variant_name(pg, r, e, what, sizeof what);
            int wb = rj_int(pg, r, e, "weight_bits", 32);
            snprintf(w2, sizeof w2, "%s before", what);
            run_label(r, n, w2, lab, sizeof lab);
            SvgSeries *s = svg_plot_add(&p, lab, SVG_LINEPOINTS, x, b, j);
            if (s) s->color = width_color(wb), s->dashed = 1, s->marker = 2;
            snprintf(w2, sizeof w2, "%s after", what);
            run_label(r, n, w2, lab, sizeof lab);
            s = svg_plot_add(&p, lab, SVG_LINEPOINTS, x, a, j);
            if (s) s->color = width_color(wb);
            any |= j > 0;
            free(x);
            free(a);
            free(b);
        }
    }
    if (any)
        page_figure(pg, &p,
                    "Tuning moves the group scales and norm weights with the integer codes fixed: the gap between a dashed curve "
                    "(before) and its solid one (after) is what tuning recovered in that block.");
    else svg_plot_free(&p);

    /* end to end: the calibration KL to the fp32 model before and after */
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), "End-to-end tuning: KL divergence to the fp32 model", "variant",
                  "KL per token (nats)");
    p.height = 320;
    const char *cats[64];
    char names[64][96];
    double before[64], after[64];
    int nc = 0;
    for (int i = 0; i < n; i++) {
        const RRun *r = &runs[i];
        const cJSON *e;
        cJSON_ArrayForEach(e, rj_arr(pg, r, r->root, "rows")) {
            double kb = rj_num(pg, r, e, "e2e_kl_before", NAN), ka = rj_num(pg, r, e, "e2e_kl_after", NAN);
            if (!isfinite(kb) || !isfinite(ka) || nc >= 64) continue;
            char what[64];
            variant_name(pg, r, e, what, sizeof what);
            run_label(r, n, what, names[nc], sizeof names[nc]);
            cats[nc] = names[nc];
            before[nc] = kb;
            after[nc++] = ka;
        }
    }
    if (nc == 0) {
        svg_plot_free(&p);
        return;
    }
    svg_plot_categories(&p, cats, nc);
    SvgSeries *s = svg_plot_add(&p, "before", SVG_BARS, NULL, before, nc);
    s->color = -1;
    s = svg_plot_add(&p, "after", SVG_BARS, NULL, after, nc);
    s->color = 0;
    page_figure(pg, &p,
                "The last step tunes every scale against the fp32 model's next-token distribution: the KL on the calibration "
                "windows before (grey) and after (blue).");
}

void report_ptq_llm(RPage *pg, const RRun *runs, int n, const cJSON *anchors, const char *anchors_name) {
    page_h2(pg, "quant ptq-llm: quantizing a language model");
    for (int i = 0; i < n; i++) {
        const RRun *r = &runs[i];
        page_p(pg, "%s%sModel: %s. Evaluation: %s (%.0f windows, %.0f tokens scored). Calibration: %s.%s%s%s Run: %.1f s, peak RSS "
                   "%.0f MB.",
               n > 1 ? r->name : "", n > 1 ? " — " : "", rj_str(pg, r, r->root, "model", "?"), rj_str(pg, r, r->root, "eval_protocol", "?"),
               rj_num(pg, r, r->root, "eval_windows", 0), rj_num(pg, r, r->root, "eval_tokens_scored", 0),
               rj_str(pg, r, r->root, "calibration", "?"), rj_str(pg, r, r->root, "end_to_end_data", NULL) ? " End-to-end tuning data: " : "",
               rj_str(pg, r, r->root, "end_to_end_data", ""), rj_str(pg, r, r->root, "end_to_end_data", NULL) ? "." : "",
               rj_num(pg, r, r->root, "total_seconds", 0),
               rj_num(pg, r, r->root, "peak_rss_bytes", 0) / 1048576.0);
    }
    page_h3(pg, "Perplexity against size");
    ppl_plot(pg, runs, n, anchors, anchors_name);
    page_h3(pg, "Why LLMs are hard (1): outliers");
    for (int i = 0; i < n && !pg->failed; i++) {
        if (n > 1) page_p(pg, "%s:", runs[i].name);
        outlier_plots(pg, &runs[i]);
    }
    page_h3(pg, "Why LLMs are hard (2): the error accumulates");
    block_error_plot(pg, runs, n);
    page_h3(pg, "Tuning after GPTQ");
    tuning_plots(pg, runs, n);
}
