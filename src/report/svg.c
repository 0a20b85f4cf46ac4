/* svg.c — the SVG plotting module (svg.h): string buffer, scales and ticks, the plot. */
#include "quant/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/core.h"

/* ------------------------------------------------------------- QBuf */
void qbuf_init(QBuf *b) {
    b->cap = 4096;
    b->n = 0;
    b->s = xmalloc(b->cap);
    b->s[0] = 0;
}

void qbuf_free(QBuf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

static void qbuf_reserve(QBuf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return;
    while (b->n + extra + 1 > b->cap) b->cap *= 2;
    b->s = xrealloc(b->s, b->cap);
}

void qbuf_puts(QBuf *b, const char *s) {
    size_t k = strlen(s);
    qbuf_reserve(b, k);
    memcpy(b->s + b->n, s, k + 1);
    b->n += k;
}

void qbuf_printf(QBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k <= 0) return;
    qbuf_reserve(b, (size_t)k);
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void qbuf_escape(QBuf *b, const char *s) {
    if (!s) return;
    for (; *s; s++) {
        switch (*s) {
        case '&': qbuf_puts(b, "&amp;"); break;
        case '<': qbuf_puts(b, "&lt;"); break;
        case '>': qbuf_puts(b, "&gt;"); break;
        case '"': qbuf_puts(b, "&quot;"); break;
        case '\'': qbuf_puts(b, "&#39;"); break;
        default:
            /* control characters are not allowed in XML 1.0 */
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') qbuf_puts(b, "?");
            else {
                qbuf_reserve(b, 1);
                b->s[b->n++] = *s;
                b->s[b->n] = 0;
            }
        }
    }
}

/* ------------------------------------------------------------ scales */
const char *svg_color(int i) {
    static const char *pal[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B"};
    if (i < 0) return "#999999";
    return pal[i % 8];
}

static double nice_step(double span, int target) {
    double raw = span / (target > 1 ? target : 1), mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

void svg_scale_fit(SvgScale *s, int log_, double lo, double hi, int target) {
    memset(s, 0, sizeof *s);
    s->log = log_;
    if (!(isfinite(lo) && isfinite(hi))) lo = 0, hi = 1;
    if (log_) {
        if (!(lo > 0)) lo = hi > 0 ? hi / 10 : 1;
        if (!(hi > lo)) hi = lo * 10;
        s->lo = lo;
        s->hi = hi;
        double d0 = floor(log10(lo)), d1 = ceil(log10(hi));
        int span = (int)(d1 - d0);
        /* mantissas: decades only over a wide range, 1-2-5 over a few, 1..9 over less than one */
        static const double m19[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, m125[] = {1, 2, 5};
        static const double *const mant[3] = {m19, m125, m19};
        static const int nmant[3] = {1, 3, 9};
        for (int pass = span >= 3 ? 0 : 1; pass < 3; pass++) {
            const double *ms = mant[pass];
            int nm = nmant[pass];
            s->n_ticks = 0;
            for (double d = d0; d <= d1 && s->n_ticks < SVG_MAX_TICKS; d++)
                for (int k = 0; k < nm && s->n_ticks < SVG_MAX_TICKS; k++) {
                    double v = ms[k] * pow(10, d);
                    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) s->ticks[s->n_ticks++] = v;
                }
            if (s->n_ticks >= 3) break;
        }
        return;
    }
    if (!(hi > lo)) {
        double c = lo;
        lo = c - (c != 0 ? fabs(c) * 0.1 : 1);
        hi = c + (c != 0 ? fabs(c) * 0.1 : 1);
    }
    double step = nice_step(hi - lo, target);
    s->step = step;
    s->lo = floor(lo / step + 1e-9) * step;
    s->hi = ceil(hi / step - 1e-9) * step;
    int n = (int)floor((s->hi - s->lo) / step + 0.5) + 1;
    if (n > SVG_MAX_TICKS) n = SVG_MAX_TICKS;
    for (int i = 0; i < n; i++) {
        double v = s->lo + i * step;
        if (fabs(v) < step * 1e-9) v = 0;
        s->ticks[i] = v;
    }
    s->n_ticks = n;
}

double svg_scale_map(const SvgScale *s, double v) {
    double t = s->log ? (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo)) : (v - s->lo) / (s->hi - s->lo);
    return s->p0 + t * (s->p1 - s->p0);
}

void svg_tick_label(const SvgScale *s, double v, char *buf, size_t n) {
    double big = fmax(fabs(s->lo), fabs(s->hi));
    if (s->log || big >= 1e6 || (s->step > 0 && s->step < 1e-4)) {
        snprintf(buf, n, "%g", v);
        return;
    }
    int dec = s->step >= 1 ? 0 : (int)ceil(-log10(s->step) - 1e-9);
    snprintf(buf, n, "%.*f", dec, v);
}

/* ------------------------------------------------------------- plots */
void svg_plot_init(SvgPlot *p, const char *id, const char *title, const char *xlabel, const char *ylabel) {
    memset(p, 0, sizeof *p);
    p->id = xstrdup(id);
    p->title = xstrdup(title ? title : "");
    p->x.label = xstrdup(xlabel ? xlabel : "");
    p->y.label = xstrdup(ylabel ? ylabel : "");
    p->width = 940;
    p->height = 360;
}

void svg_plot_free(SvgPlot *p) {
    free(p->id);
    free(p->title);
    free(p->x.label);
    free(p->y.label);
    for (int i = 0; i < p->x.n_cat; i++) free(p->x.cats[i]);
    free(p->x.cats);
    for (int i = 0; i < p->n_series; i++) {
        free(p->series[i].name);
        free(p->series[i].x);
        free(p->series[i].y);
    }
    for (int i = 0; i < p->n_notes; i++) free(p->notes[i].text);
    memset(p, 0, sizeof *p);
}

static double *dup_doubles(const double *v, int n) {
    if (!v || n <= 0) return NULL;
    double *d = xmalloc((size_t)n * sizeof(double));
    memcpy(d, v, (size_t)n * sizeof(double));
    return d;
}

SvgSeries *svg_plot_add(SvgPlot *p, const char *name, SvgKind kind, const double *x, const double *y, int n) {
    if (p->n_series >= SVG_MAX_SERIES || n < 0) return NULL;
    SvgSeries *s = &p->series[p->n_series];
    memset(s, 0, sizeof *s);
    s->name = xstrdup(name ? name : "");
    s->kind = kind;
    s->n = n;
    s->x = dup_doubles(x, kind == SVG_STEPS ? n + 1 : n);
    s->y = kind == SVG_VLINES ? NULL : dup_doubles(y, n);
    s->color = p->n_series;
    if ((kind != SVG_BARS && kind != SVG_VLINES && !s->x) || (kind != SVG_VLINES && !s->y && n > 0)) s->n = 0;
    p->n_series++;
    return s;
}

void svg_plot_categories(SvgPlot *p, const char *const *cats, int n) {
    for (int i = 0; i < p->x.n_cat; i++) free(p->x.cats[i]);
    free(p->x.cats);
    p->x.cats = xcalloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    for (int i = 0; i < n; i++) p->x.cats[i] = xstrdup(cats[i]);
    p->x.n_cat = n;
}

void svg_plot_note(SvgPlot *p, double x, double y, int anchor, const char *text) {
    if (p->n_notes >= SVG_MAX_NOTES) return;
    SvgNote *t = &p->notes[p->n_notes++];
    t->x = x;
    t->y = y;
    t->anchor = anchor;
    t->text = xstrdup(text);
}

static int usable(double v, int log_) { return isfinite(v) && (!log_ || v > 0); }

/* the data range of one axis over every series (x: 0, y: 1) */
static void data_range(const SvgPlot *p, int axis, double *lo, double *hi, int *zero_based) {
    *lo = INFINITY;
    *hi = -INFINITY;
    *zero_based = 0;
    int log_ = axis ? p->y.log : p->x.log;
    for (int i = 0; i < p->n_series; i++) {
        const SvgSeries *s = &p->series[i];
        if (axis == 1 && s->kind == SVG_VLINES) continue;
        const double *v = axis ? s->y : s->x;
        int n = s->n + (axis == 0 && s->kind == SVG_STEPS ? 1 : 0);
        if (axis == 1 && (s->kind == SVG_STEPS || s->kind == SVG_BARS)) *zero_based = 1;
        if (!v) continue;
        for (int k = 0; k < n; k++)
            if (usable(v[k], log_)) {
                *lo = fmin(*lo, v[k]);
                *hi = fmax(*hi, v[k]);
            }
    }
    for (int i = 0; i < p->n_notes; i++) {
        double v = axis ? p->notes[i].y : p->notes[i].x;
        if (usable(v, log_)) {
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    }
    if (*zero_based && !log_) {
        *lo = fmin(*lo, 0);
        *hi = fmax(*hi, 0);
    }
    if (!(*lo <= *hi)) *lo = *hi = log_ ? 1 : 0;
}

static void fit_axis(const SvgPlot *p, const SvgAxis *a, int axis, SvgScale *s, double p0, double p1) {
    double lo, hi;
    int zb;
    if (a->lo < a->hi) lo = a->lo, hi = a->hi;
    else {
        data_range(p, axis, &lo, &hi, &zb);
        if (a->log) {
            lo /= 1.15;
            hi *= 1.15;
        } else {
            double pad = 0.04 * (hi - lo);
            if (!(zb && lo == 0)) lo -= pad;
            hi += pad;
            if (lo < 0 && lo + pad >= 0) lo = 0; /* do not invent negative values */
        }
    }
    svg_scale_fit(s, a->log, lo, hi, axis ? 6 : 8);
    if (a->log || (a->lo < a->hi)) { /* log ranges and fixed ranges stay as given */
        if (!a->log) {
            s->lo = lo;
            s->hi = hi;
            int n = 0;
            for (int i = 0; i < s->n_ticks; i++)
                if (s->ticks[i] >= lo - 1e-12 && s->ticks[i] <= hi + 1e-12) s->ticks[n++] = s->ticks[i];
            s->n_ticks = n;
        }
    }
    s->p0 = p0;
    s->p1 = p1;
}

static void marker(QBuf *b, int kind, double x, double y, const char *color) {
    switch (kind % 4) {
    case 1: qbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" fill=\"%s\"", x - 3.5, y - 3.5, color); break;
    case 2: qbuf_printf(b, "<path d=\"M%.1f %.1fl4.5 7.5h-9z\" fill=\"%s\"", x, y - 4.5, color); break;
    case 3: qbuf_printf(b, "<path d=\"M%.1f %.1fl4.5 4.5l-4.5 4.5l-4.5 -4.5z\" fill=\"%s\"", x, y - 4.5, color); break;
    default: qbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.8\" fill=\"%s\"", x, y, color);
    }
}

static void num_text(char *buf, size_t n, double v) { snprintf(buf, n, "%.6g", v); }

void svg_plot_write(const SvgPlot *p, QBuf *b) {
    const int W = p->width, H = p->height;
    int legend = 0;
    size_t longest = 0;
    for (int i = 0; i < p->n_series; i++)
        if (p->series[i].name && p->series[i].name[0]) {
            legend++;
            size_t k = strlen(p->series[i].name);
            if (k > longest) longest = k;
        }
    /* legend column: as wide as the longest entry (names past 44 characters are cut with an ellipsis) */
    if (longest > 44) longest = 44;
    double lw = legend ? fmin(330, 40 + 6.8 * (double)longest) : 0;
    double x0 = 74, x1 = W - 18 - lw, y0 = 36, y1 = H - 52;
    if (p->x.n_cat > 10) y1 = H - 90; /* room for slanted category names */
    SvgScale sx = {0}, sy;
    int cat = p->x.n_cat > 0;
    if (!cat) fit_axis(p, &p->x, 0, &sx, x0, x1);
    fit_axis(p, &p->y, 1, &sy, y1, y0);

    qbuf_printf(b,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" class=\"plot\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\" "
                "%srole=\"img\" aria-label=\"",
                p->id, W, H, W, H, p->y.hidden ? "data-yaxis=\"none\" " : "");
    qbuf_escape(b, p->title);
    qbuf_puts(b, "\">\n<title>");
    qbuf_escape(b, p->title);
    qbuf_printf(b, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    qbuf_printf(b, "<text x=\"%.1f\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">", (x0 + x1) / 2);
    qbuf_escape(b, p->title);
    qbuf_puts(b, "</text>\n");
    qbuf_printf(b, "<defs><clipPath id=\"%s-clip\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath></defs>\n",
                p->id, x0, y0 - 2, x1 - x0, y1 - y0 + 4);

    /* grid and ticks */
    char lab[64];
    qbuf_puts(b, "<g class=\"grid\" stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
    for (int i = 0; !p->y.hidden && i < sy.n_ticks; i++) {
        double y = svg_scale_map(&sy, sy.ticks[i]);
        qbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0, y, x1, y);
    }
    for (int i = 0; !cat && i < sx.n_ticks; i++) {
        double x = svg_scale_map(&sx, sx.ticks[i]);
        qbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, y0, x, y1);
    }
    qbuf_puts(b, "</g>\n<g class=\"yticks\" text-anchor=\"end\" fill=\"#333333\">\n");
    for (int i = 0; !p->y.hidden && i < sy.n_ticks; i++) {
        double y = svg_scale_map(&sy, sy.ticks[i]);
        svg_tick_label(&sy, sy.ticks[i], lab, sizeof lab);
        qbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                    x0 - 5, y, x0, y, x0 - 8, y + 4, lab);
    }
    qbuf_puts(b, "</g>\n<g class=\"xticks\" text-anchor=\"middle\" fill=\"#333333\">\n");
    if (cat) {
        double band = (x1 - x0) / p->x.n_cat;
        for (int i = 0; i < p->x.n_cat; i++) {
            double x = x0 + band * (i + 0.5);
            if (p->x.n_cat > 10) {
                qbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" transform=\"rotate(-40 %.1f %.1f)\">", x, y1 + 14, x, y1 + 14);
            } else {
                qbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", x, y1 + 17);
            }
            qbuf_escape(b, p->x.cats[i]);
            qbuf_puts(b, "</text>\n");
        }
    } else {
        for (int i = 0; i < sx.n_ticks; i++) {
            double x = svg_scale_map(&sx, sx.ticks[i]);
            svg_tick_label(&sx, sx.ticks[i], lab, sizeof lab);
            qbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                        x, y1, x, y1 + 5, x, y1 + 18, lab);
        }
    }
    qbuf_puts(b, "</g>\n");
    qbuf_printf(b, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444444\"/>\n",
                x0, y0, x1 - x0, y1 - y0);
    qbuf_printf(b, "<text class=\"xlabel\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">", (x0 + x1) / 2, H - 12);
    qbuf_escape(b, p->x.label);
    qbuf_printf(b, "</text>\n<text class=\"ylabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 %.1f %.1f)\">",
                18.0, (y0 + y1) / 2, 18.0, (y0 + y1) / 2);
    qbuf_escape(b, p->y.label);
    qbuf_puts(b, "</text>\n");

    /* series */
    int n_bars = 0, bar_i = 0;
    for (int i = 0; i < p->n_series; i++) n_bars += p->series[i].kind == SVG_BARS;
    char nx[32], ny[32];
    for (int i = 0; i < p->n_series; i++) {
        const SvgSeries *s = &p->series[i];
        const char *col = svg_color(s->color);
        static const char *kinds[] = {"line", "points", "linepoints", "steps", "bars", "vlines"};
        qbuf_puts(b, "<g class=\"series\" data-name=\"");
        qbuf_escape(b, s->name);
        qbuf_printf(b, "\" data-kind=\"%s\" data-n=\"%d\" clip-path=\"url(#%s-clip)\">\n", kinds[s->kind], s->n, p->id);
        double sw = s->width > 0 ? s->width : 2;
        const char *dash = s->dashed ? " stroke-dasharray=\"6 4\"" : "";
        if (s->kind == SVG_LINE || s->kind == SVG_LINEPOINTS) {
            int open = 0;
            for (int k = 0; k < s->n; k++) {
                if (!usable(s->x[k], p->x.log) || !usable(s->y[k], p->y.log)) {
                    if (open) qbuf_puts(b, "\"/>\n");
                    open = 0;
                    continue;
                }
                double x = svg_scale_map(&sx, s->x[k]), y = svg_scale_map(&sy, s->y[k]);
                if (!open)
                    qbuf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"%s stroke-linejoin=\"round\" points=\"", col, sw, dash);
                qbuf_printf(b, "%s%.1f,%.1f", open ? " " : "", x, y);
                open = 1;
            }
            if (open) qbuf_puts(b, "\"/>\n");
        }
        if (s->kind == SVG_POINTS || s->kind == SVG_LINEPOINTS) {
            for (int k = 0; k < s->n; k++) {
                if (!usable(s->x[k], p->x.log) || !usable(s->y[k], p->y.log)) continue;
                marker(b, s->marker, svg_scale_map(&sx, s->x[k]), svg_scale_map(&sy, s->y[k]), col);
                num_text(nx, sizeof nx, s->x[k]);
                num_text(ny, sizeof ny, s->y[k]);
                qbuf_puts(b, "><title>");
                qbuf_escape(b, s->name);
                qbuf_printf(b, ": %s, %s</title></%s>\n", nx, ny, s->marker % 4 == 0 ? "circle" : s->marker % 4 == 1 ? "rect" : "path");
            }
        }
        if (s->kind == SVG_STEPS && s->n > 0) {
            /* the outline of the bins, down to the baseline at both ends */
            double base = svg_scale_map(&sy, p->y.log ? sy.lo : fmax(sy.lo, 0));
            qbuf_printf(b, "<path fill=\"%s\" fill-opacity=\"%s\" stroke=\"%s\" stroke-width=\"%.1f\"%s d=\"M%.1f %.1f", s->filled ? col : "none",
                        s->filled ? "0.25" : "0", col, s->width > 0 ? s->width : 1.5, dash, svg_scale_map(&sx, s->x[0]), base);
            for (int k = 0; k < s->n; k++) {
                double v = usable(s->y[k], p->y.log) ? s->y[k] : (p->y.log ? sy.lo : 0);
                double y = svg_scale_map(&sy, v);
                qbuf_printf(b, "V%.1fH%.1f", y, svg_scale_map(&sx, s->x[k + 1]));
            }
            qbuf_printf(b, "V%.1f\"/>\n", base);
        }
        if (s->kind == SVG_BARS && cat) {
            double band = (x1 - x0) / p->x.n_cat, w = band * 0.78 / (n_bars ? n_bars : 1);
            double base = svg_scale_map(&sy, p->y.log ? sy.lo : fmax(sy.lo, 0));
            for (int k = 0; k < s->n && k < p->x.n_cat; k++) {
                if (!usable(s->y[k], p->y.log)) continue;
                double y = svg_scale_map(&sy, s->y[k]), x = x0 + band * k + band * 0.11 + w * bar_i;
                qbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", x, fmin(y, base), w,
                            fabs(base - y), col);
                qbuf_escape(b, s->name);
                qbuf_puts(b, " — ");
                qbuf_escape(b, p->x.cats[k]);
                num_text(ny, sizeof ny, s->y[k]);
                qbuf_printf(b, ": %s</title></rect>\n", ny);
            }
            bar_i++;
        }
        if (s->kind == SVG_VLINES && !cat) {
            for (int k = 0; k < s->n; k++) {
                if (!usable(s->x[k], p->x.log)) continue;
                double x = svg_scale_map(&sx, s->x[k]);
                qbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"%s/>\n", x, y0, x, y1,
                            col, s->width > 0 ? s->width : 1, dash);
            }
        }
        qbuf_puts(b, "</g>\n");
    }
    for (int i = 0; i < p->n_notes; i++) {
        const SvgNote *t = &p->notes[i];
        if (!usable(t->x, p->x.log) || !usable(t->y, p->y.log) || cat) continue;
        qbuf_printf(b, "<text class=\"note\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"#222222\">", svg_scale_map(&sx, t->x),
                    svg_scale_map(&sy, t->y), t->anchor < 0 ? "end" : t->anchor > 0 ? "start" : "middle");
        qbuf_escape(b, t->text);
        qbuf_puts(b, "</text>\n");
    }

    /* legend: to the right of the plot, never over the data */
    if (legend) {
        double lx = x1 + 14, ly = y0 + 6;
        qbuf_puts(b, "<g class=\"legend\">\n");
        for (int i = 0; i < p->n_series; i++) {
            const SvgSeries *s = &p->series[i];
            if (!s->name || !s->name[0]) continue;
            const char *col = svg_color(s->color);
            if (s->kind == SVG_BARS || (s->kind == SVG_STEPS && s->filled))
                qbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"18\" height=\"10\" fill=\"%s\"%s/>", lx, ly - 5, col,
                            s->kind == SVG_STEPS ? " fill-opacity=\"0.4\"" : "");
            else if (s->kind == SVG_POINTS) {
                marker(b, s->marker, lx + 9, ly, col);
                qbuf_puts(b, "/>");
            } else {
                qbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"%s/>", lx, ly,
                            lx + 18, ly, col, s->kind == SVG_VLINES ? 1.5 : 2.0, s->dashed ? " stroke-dasharray=\"5 3\"" : "");
                if (s->kind == SVG_LINEPOINTS) {
                    marker(b, s->marker, lx + 9, ly, col);
                    qbuf_puts(b, "/>");
                }
            }
            qbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", lx + 24, ly + 4);
            if (strlen(s->name) > 44) {
                char cut[48];
                size_t k = 42;
                while (k > 0 && ((unsigned char)s->name[k] & 0xC0) == 0x80) k--; /* not inside a UTF-8 character */
                memcpy(cut, s->name, k);
                cut[k] = 0;
                qbuf_escape(b, cut);
                qbuf_puts(b, "…<title>");
                qbuf_escape(b, s->name);
                qbuf_puts(b, "</title>");
            } else {
                qbuf_escape(b, s->name);
            }
            qbuf_puts(b, "</text>\n");
            ly += 18;
        }
        qbuf_puts(b, "</g>\n");
    }
    qbuf_puts(b, "</svg>\n");
}
