/* svg.h — a small SVG plotting module for the HTML reports (src/report/svg.c).
 *
 * A plot is a value: axes (linear, log, or categories), a list of series (lines, points,
 * histograms as steps, grouped bars, vertical marker lines), a few text notes; svg_plot_write
 * renders it as one <svg> element with its axes, ticks, labels, legend and a tooltip per point.
 * The series copy their data, so a plot can be filled from temporaries and freed once written.
 * Every text is escaped for XML.  Each series is a <g class="series" data-name="NAME"> so
 * tests can find what was drawn.  Debian has no maintained C library for SVG plots (GNU
 * plotutils' libplot is from 2009, PLplot draws text as paths and styles per driver), so this
 * is ours: about 500 lines. */
#ifndef QUANT_SVG_H
#define QUANT_SVG_H

#include <stddef.h>

/* ------------------------------------------------------- a growing string */
typedef struct QBuf {
    char *s;     /* NUL-terminated */
    size_t n, cap;
} QBuf;
void qbuf_init(QBuf *b);
void qbuf_free(QBuf *b);
void qbuf_puts(QBuf *b, const char *s);
void qbuf_printf(QBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s with & < > " ' replaced by entities (safe in XML/HTML text and attribute values) */
void qbuf_escape(QBuf *b, const char *s);

/* ------------------------------------------------------------------ plots */
typedef enum SvgKind {
    SVG_LINE,        /* polyline through (x[i], y[i]) */
    SVG_POINTS,      /* markers */
    SVG_LINEPOINTS,  /* both */
    SVG_STEPS,       /* histogram: x = n + 1 bin edges, y = n heights; filled when .filled */
    SVG_BARS,        /* categorical x axis: y[i] is the bar of category i (series side by side) */
    SVG_VLINES,      /* vertical lines across the plot at x[i] (y ignored): grids, levels */
} SvgKind;

enum { SVG_MAX_SERIES = 24, SVG_MAX_NOTES = 8, SVG_MAX_TICKS = 32 };

typedef struct SvgSeries {
    char *name;       /* legend entry; NULL or "": not in the legend */
    SvgKind kind;
    double *x, *y;    /* copies */
    int n;
    int color;        /* palette index (svg_color); -1: grey */
    int dashed;
    int filled;       /* SVG_STEPS: fill the area under the steps */
    int marker;       /* 0 circle, 1 square, 2 triangle, 3 diamond */
    double width;     /* stroke width (0: default) */
} SvgSeries;

typedef struct SvgAxis {
    char *label;      /* with its unit, e.g. "perplexity (log scale)" */
    int log;          /* base-10 logarithmic */
    double lo, hi;    /* lo < hi: fixed range; otherwise from the data */
    int hidden;       /* no ticks, no label: a position-only axis (svg root gets data-yaxis="none") */
    int n_cat;        /* > 0: categorical (bars), names in cats */
    char **cats;
} SvgAxis;

typedef struct SvgNote {
    double x, y;      /* data coordinates */
    char *text;
    int anchor;       /* -1 end, 0 middle, 1 start */
} SvgNote;

typedef struct SvgPlot {
    char *id;         /* unique in the page (clip path id) */
    char *title;
    int width, height;
    SvgAxis x, y;
    int n_series;
    SvgSeries series[SVG_MAX_SERIES];
    int n_notes;
    SvgNote notes[SVG_MAX_NOTES];
} SvgPlot;

/* A plot of the default size (940 x 360) with these titles; free with svg_plot_free. */
void svg_plot_init(SvgPlot *p, const char *id, const char *title, const char *xlabel, const char *ylabel);
void svg_plot_free(SvgPlot *p);
/* Appends a series (data copied; non-finite points are skipped when drawn); NULL when full. */
SvgSeries *svg_plot_add(SvgPlot *p, const char *name, SvgKind kind, const double *x, const double *y, int n);
void svg_plot_categories(SvgPlot *p, const char *const *cats, int n);
void svg_plot_note(SvgPlot *p, double x, double y, int anchor, const char *text);
/* Appends the <svg> element (standalone-valid: xmlns, presentation attributes only). */
void svg_plot_write(const SvgPlot *p, QBuf *out);

/* ------------------------------------------------ scales (exposed for tests) */
/* Data range -> drawn range and ticks.  Linear: lo/hi widened to multiples of a 1-2-5 step so
 * that about `target` ticks fall in it; log: whole decades (ticks 1, 10, 100 ..., and 2, 5 in
 * between when the range spans fewer than three decades).  Returns the number of ticks. */
typedef struct SvgScale {
    int log;
    double lo, hi;        /* the drawn range (data units) */
    double p0, p1;        /* pixel positions of lo and hi */
    int n_ticks;
    double ticks[SVG_MAX_TICKS];
    double step;          /* linear: the tick step */
} SvgScale;
void   svg_scale_fit(SvgScale *s, int log, double lo, double hi, int target);
double svg_scale_map(const SvgScale *s, double v);   /* data -> pixels */
/* tick label: as few digits as the step needs ("0.25", "1e-05", "2000") */
void   svg_tick_label(const SvgScale *s, double v, char *buf, size_t n);
/* the palette (Okabe-Ito, safe for colour-blind readers) */
const char *svg_color(int i);

#endif
