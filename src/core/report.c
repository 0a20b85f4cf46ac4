/* report.c — progress line, log lines, aligned tables, JSON files. */
#include "quant/core.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void qprogress_init(QProgress *p) {
    p->tty = isatty(2);
    p->active = 0;
    p->t0 = qtime_now();
    p->frac = -1;
    p->last_log = p->t0;
}

void qprogress_frac(QProgress *p, double frac) { p->frac = frac < 0 ? 0 : frac > 1 ? 1 : frac; }

void qprogress_fmt_seconds(double s, char *buf, size_t n) {
    if (!(s >= 0)) s = 0;
    if (s < 60) snprintf(buf, n, "%.1fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

void qprogress_update(QProgress *p, const char *fmt, ...) {
    double now = qtime_now(), el = now - p->t0;
    if (!p->tty && now - p->last_log < QPROGRESS_LOG_SECONDS) return;
    char msg[256], t_el[32], t_eta[32] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qprogress_fmt_seconds(el, t_el, sizeof t_el);
    /* the ETA extrapolates the elapsed time linearly once a little work is done */
    if (p->frac > 0.005 && p->frac < 1) {
        char t[24];
        qprogress_fmt_seconds(el * (1 - p->frac) / p->frac, t, sizeof t);
        snprintf(t_eta, sizeof t_eta, ", ETA %s", t);
    }
    if (!p->tty) {
        if (p->frac >= 0) fprintf(stderr, "%s  %.0f%% [%s%s]\n", msg, 100 * p->frac, t_el, t_eta);
        else fprintf(stderr, "%s  [%s]\n", msg, t_el);
        p->last_log = now;
        return;
    }
    char bar[24] = "";
    if (p->frac >= 0) {
        enum { W = 20 };
        int fill = (int)(p->frac * W + 0.5);
        bar[0] = '[';
        for (int i = 0; i < W; i++) bar[1 + i] = i < fill ? '#' : '.';
        bar[W + 1] = ']';
        bar[W + 2] = 0;
    }
    fprintf(stderr, "\r\033[K%s %s  [%s%s]", msg, bar, t_el, t_eta);
    fflush(stderr);
    p->active = 1;
}

void qprogress_done(QProgress *p) {
    if (p->tty && p->active) fprintf(stderr, "\r\033[K");
    p->active = 0;
}

void qlog(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void qtable_init(QTable *t, int ncols, const char *const *headers) {
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->cap = 8;
    t->cells = xcalloc((size_t)t->cap * ncols, sizeof(char *));
    t->right = xcalloc((size_t)ncols, sizeof(int));
    for (int c = 0; c < ncols; c++) t->cells[c] = xstrdup(headers[c]);
    t->next_col = ncols;
}

void qtable_align_right(QTable *t, int col, int right) {
    if (col >= 0 && col < t->ncols) t->right[col] = right;
}

void qtable_new_row(QTable *t) {
    if (t->nrows + 2 > t->cap) {
        int ncap = t->cap * 2;
        t->cells = xrealloc(t->cells, (size_t)ncap * t->ncols * sizeof(char *));
        memset(t->cells + (size_t)t->cap * t->ncols, 0, (size_t)(ncap - t->cap) * t->ncols * sizeof(char *));
        t->cap = ncap;
    }
    t->nrows++;
    t->next_col = 0;
}

void qtable_cell(QTable *t, const char *fmt, ...) {
    if (t->nrows == 0 || t->next_col >= t->ncols) return;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    t->cells[(size_t)t->nrows * t->ncols + t->next_col++] = xstrdup(buf);
}

void qtable_add_row(QTable *t, const char *const *cells) {
    qtable_new_row(t);
    for (int c = 0; c < t->ncols; c++) qtable_cell(t, "%s", cells[c] ? cells[c] : "");
}

void qtable_print(const QTable *t, FILE *f) {
    int *w = xcalloc((size_t)t->ncols, sizeof(int));
    for (int r = 0; r <= t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[(size_t)r * t->ncols + c];
            int n = s ? (int)strlen(s) : 0;
            if (n > w[c]) w[c] = n;
        }
    for (int r = 0; r <= t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[(size_t)r * t->ncols + c];
            if (!s) s = "";
            if (c) fputs("  ", f);
            if (t->right[c] && r > 0) fprintf(f, "%*s", w[c], s);
            else if (c == t->ncols - 1) fputs(s, f);
            else fprintf(f, "%-*s", w[c], s);
        }
        fputc('\n', f);
        if (r == 0) {
            int total = 0;
            for (int c = 0; c < t->ncols; c++) total += w[c] + (c ? 2 : 0);
            for (int i = 0; i < total; i++) fputc('-', f);
            fputc('\n', f);
        }
    }
    free(w);
}

void qtable_free(QTable *t) {
    for (size_t i = 0; i < (size_t)t->cap * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    free(t->right);
    memset(t, 0, sizeof *t);
}

int qjson_write_file(const char *path, const cJSON *root, QErr *err) {
    char *s = cJSON_Print(root);
    if (!s) return qerr_set(err, "%s: cannot serialise JSON", path);
    QWriter w;
    int rc = qwriter_open(&w, path, err);
    if (rc == 0) rc = qwriter_write(&w, s, strlen(s), err);
    if (rc == 0) rc = qwriter_write(&w, "\n", 1, err);
    if (rc == 0) rc = qwriter_commit(&w, err);
    else qwriter_abort(&w);
    free(s);
    return rc;
}
