/* report_basics.c — `quant basics`: the value line with each grid's levels and the seed's
 * 0.5372 example, its zoom on the 8-bit grid, and the error histograms per bit width. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

typedef struct Grid {
    int bits;
    double scale, zero, qmin, qmax, code, deq;
} Grid;

static int read_grids(RPage *pg, const RRun *r, const cJSON *ex, Grid *g, int max) {
    const cJSON *arr = rj_arr(pg, r, ex, "grids"), *e;
    int n = 0;
    cJSON_ArrayForEach(e, arr) {
        if (n >= max) break;
        Grid *x = &g[n];
        x->bits = rj_int(pg, r, e, "bits", 0);
        x->scale = rj_num(pg, r, e, "scale", 0);
        x->zero = rj_num(pg, r, e, "zero_point", 0);
        x->qmin = rj_num(pg, r, e, "qmin", 0);
        x->qmax = rj_num(pg, r, e, "qmax", 0);
        x->code = rj_num(pg, r, e, "code", 0);
        x->deq = rj_num(pg, r, e, "dequantized", 0);
        if (pg->failed) return -1;
        if (x->bits < 1 || x->bits > 16 || !(x->scale > 0) || x->qmax < x->qmin || x->qmax - x->qmin > 4095)
            return rj_fail(pg, r, "example.grids[%d]: bits, scale or qmin..qmax out of range", n);
        n++;
    }
    return n;
}

static void value_line(RPage *pg, const RRun *r, const cJSON *ex) {
    Grid g[9];
    int ng = read_grids(pg, r, ex, g, 9);
    double x = rj_num(pg, r, ex, "value", NAN);
    if (ng <= 0 || pg->failed || !isfinite(x)) return;
    char id[16], t[160];
    SvgPlot p;
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), "The value line: each grid's levels over [0, 1]", "value",
                  "grid width (bits)");
    p.height = 300;
    p.x.lo = -0.02;
    p.x.hi = 1.02;
    p.y.lo = 1;
    p.y.hi = 9;
    double xv = x;
    SvgSeries *s = svg_plot_add(&p, "the value x", SVG_VLINES, &xv, NULL, 1);
    s->color = 1;
    s->width = 1.5;
    for (int i = 0; i < ng; i++) {
        int nl = (int)(g[i].qmax - g[i].qmin) + 1;
        double *lx = xmalloc((size_t)nl * sizeof(double)), *ly = xmalloc((size_t)nl * sizeof(double));
        for (int k = 0; k < nl; k++) {
            lx[k] = g[i].scale * (g[i].qmin + k - g[i].zero);
            ly[k] = g[i].bits;
        }
        s = svg_plot_add(&p, i == 0 ? "grid levels s·(q − z)" : "", SVG_POINTS, lx, ly, nl);
        if (s) {
            s->color = 0;
            s->marker = 1;
        }
        free(lx);
        free(ly);
    }
    double *qx = xmalloc((size_t)ng * sizeof(double)), *qy = xmalloc((size_t)ng * sizeof(double));
    for (int i = 0; i < ng; i++) {
        qx[i] = g[i].deq;
        qy[i] = g[i].bits;
        snprintf(t, sizeof t, "%d bits: x̂ = %.4f (q = %.0f)", g[i].bits, g[i].deq, g[i].code);
        svg_plot_note(&p, g[i].deq > 0.75 ? g[i].deq - 0.03 : g[i].deq + 0.03, g[i].bits + 0.35, g[i].deq > 0.75 ? -1 : 1, t);
    }
    s = svg_plot_add(&p, "x̂: the level x rounds to", SVG_POINTS, qx, qy, ng);
    s->color = 1;
    s->marker = 3;
    free(qx);
    free(qy);
    snprintf(t, sizeof t,
             "x = %.4f on affine grids over [0, 1]: fewer bits, fewer levels, a coarser x̂ — the rounding error is at most half a "
             "step s/2.",
             x);
    page_figure(pg, &p, t);

    /* the zoom: the 8-bit grid around x (the seed's 0.5372 -> 0.54) */
    const Grid *g8 = NULL;
    for (int i = 0; i < ng; i++)
        if (g[i].bits == 8) g8 = &g[i];
    if (!g8) return;
    double lv[7];
    int nl = 0;
    for (int k = -3; k <= 3; k++) {
        double q = g8->code + k;
        if (q >= g8->qmin && q <= g8->qmax) lv[nl++] = g8->scale * (q - g8->zero);
    }
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), "Zoom: x on the 8-bit grid", "value", "");
    p.height = 240;
    p.y.hidden = 1;
    p.x.lo = g8->deq - 3.5 * g8->scale;
    p.x.hi = g8->deq + 3.5 * g8->scale;
    p.y.lo = 0;
    p.y.hi = 1;
    s = svg_plot_add(&p, "8-bit levels", SVG_VLINES, lv, NULL, nl);
    s->color = 0;
    s->width = 1.2;
    s = svg_plot_add(&p, "x", SVG_VLINES, &xv, NULL, 1);
    s->color = 1;
    s->dashed = 1;
    s->width = 2;
    double py = 0.5;
    s = svg_plot_add(&p, "x̂", SVG_POINTS, &g8->deq, &py, 1);
    s->color = 1;
    s->marker = 3;
    snprintf(t, sizeof t, "x = %.4f", x);
    svg_plot_note(&p, x - 0.06 * g8->scale, 0.85, -1, t);
    snprintf(t, sizeof t, "x̂ = s·(q − z) = %.6f ≈ %.2f", g8->deq, g8->deq);
    svg_plot_note(&p, g8->deq + 0.1 * g8->scale, 0.42, 1, t);
    snprintf(t, sizeof t, "q = %.0f, level %.0f of 0..%.0f", g8->code, g8->code - g8->qmin, g8->qmax - g8->qmin);
    svg_plot_note(&p, g8->deq + 0.1 * g8->scale, 0.3, 1, t);
    snprintf(t, sizeof t, "step s = %.6f", g8->scale);
    svg_plot_note(&p, g8->deq - 1.5 * g8->scale, 0.12, 0, t);
    snprintf(t, sizeof t, "%.4f rounds to the nearest level, %.6f (≈ %.2f): an error of %.6f, under s/2 = %.6f.", x, g8->deq,
             g8->deq, g8->deq - x, g8->scale / 2);
    page_figure(pg, &p, t);
}

static void error_histograms(RPage *pg, const RRun *r) {
    const cJSON *rows = rj_arr(pg, r, r->root, "rows"), *e;
    if (!rows) return;
    int widths[16], nw = 0;
    cJSON_ArrayForEach(e, rows) {
        int b = rj_int(pg, r, e, "bits", 0), seen = 0;
        for (int i = 0; i < nw; i++) seen |= widths[i] == b;
        if (!seen && nw < 16) widths[nw++] = b;
    }
    for (int w = 0; w < nw && !pg->failed; w++) {
        char id[16], title[96], t[256];
        snprintf(title, sizeof title, "%d-bit error histograms: x̂ − x by scheme and granularity", widths[w]);
        SvgPlot p;
        svg_plot_init(&p, page_fig_id(pg, id, sizeof id), title, "error x̂ − x (value units)", "values per bin");
        p.height = 320;
        cJSON_ArrayForEach(e, rows) {
            if (rj_int(pg, r, e, "bits", 0) != widths[w]) continue;
            const cJSON *h = rj_obj(pg, r, e, "error_histogram");
            if (!h) continue;
            double lo = rj_num(pg, r, h, "lo", 0), hi = rj_num(pg, r, h, "hi", 0), *c;
            int nb = rj_nums(pg, r, rj_arr(pg, r, h, "counts"), "error_histogram.counts", 4096, &c);
            if (nb <= 0 || !(hi > lo)) {
                free(c);
                continue;
            }
            double *edges = xmalloc((size_t)(nb + 1) * sizeof(double));
            for (int k = 0; k <= nb; k++) edges[k] = lo + (hi - lo) * k / nb;
            const char *sch = rj_str(pg, r, e, "scheme", "?"), *gr = rj_str(pg, r, e, "granularity", "?");
            snprintf(t, sizeof t, "%s, %s", gr, sch);
            SvgSeries *s = svg_plot_add(&p, t, SVG_STEPS, edges, c, nb);
            if (s) {
                s->color = strncmp(gr, "tensor", 6) == 0 ? 0 : strncmp(gr, "channel", 7) == 0 ? 1 : 2;
                s->dashed = strcmp(sch, "affine") == 0;
            }
            free(edges);
            free(c);
        }
        snprintf(t, sizeof t,
                 "Finer granularity (a scale per channel, per group) narrows the %d-bit error; the error is spread evenly over "
                 "one step, so a narrower histogram is a smaller step.",
                 widths[w]);
        page_figure(pg, &p, t);
    }
}

void report_basics(RPage *pg, const RRun *runs, int n) {
    page_h2(pg, "quant basics: one value, one tensor, every grid");
    for (int i = 0; i < n && !pg->failed; i++) {
        const RRun *r = &runs[i];
        if (n > 1) page_h3(pg, r->name);
        const cJSON *t = rj_obj(pg, r, r->root, "tensor");
        if (t)
            page_p(pg, "Protocol: a %.0f x %.0f %s tensor (row i scaled by (i+1)/rows, seed %.0f), ranges from the %s observer, "
                       "groups of %.0f; every width x scheme (symmetric, affine) x granularity (tensor, channel, group).",
                   rj_num(pg, r, t, "rows", 0), rj_num(pg, r, t, "cols", 0), rj_str(pg, r, t, "dist", "?"), rj_num(pg, r, t, "seed", 0),
                   rj_str(pg, r, t, "observer", "?"), rj_num(pg, r, t, "group_size", 0));
        const cJSON *ex = rj_obj(pg, r, r->root, "example");
        if (ex) value_line(pg, r, ex);
        else page_p(pg, "(this JSON holds no value-line example)");
        error_histograms(pg, r);
    }
}
