/* report_internal.h — what the page builders of src/report share: the page being written
 * (html.c), checked access to a results tree (rjson.c), and one builder per command. */
#ifndef QUANT_REPORT_INTERNAL_H
#define QUANT_REPORT_INTERNAL_H

#include <cjson/cJSON.h>

#include "quant/report.h"

/* One results tree and the name it goes by in the page and in error messages. */
typedef struct RRun {
    const cJSON *root;
    const char *name;   /* file name, or "this run" */
} RRun;

/* The page: HTML so far, a figure counter for unique ids, the first error (sticky: builders
 * keep going and the caller checks pg->failed once). */
typedef struct RPage {
    QBuf b;
    int n_fig;
    int failed;
    QErr *err;
} RPage;

/* ---------------------------------------------------------------- html.c */
void page_begin(RPage *pg, const char *title);
void page_end(RPage *pg);
void page_run_header(RPage *pg, const RRun *r);                  /* command line, date, machine */
void page_h2(RPage *pg, const char *text);
void page_h3(RPage *pg, const char *text);
void page_p(RPage *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));   /* escaped */
/* <figure> with the plot and its one-line caption; frees the plot. */
void page_figure(RPage *pg, SvgPlot *p, const char *caption);
/* a fresh figure id ("fig3") */
const char *page_fig_id(RPage *pg, char *buf, size_t n);
/* a table: headers[ncols], cells[nrows * ncols] (escaped; NULL = empty) */
void page_table(RPage *pg, int ncols, int nrows, const char *const *headers, char *const *cells);

/* --------------------------------------------------------------- rjson.c */
/* Field access that checks types: a missing field gives def / NULL; a field of the wrong type
 * (or a non-finite number) records "RUN: field KEY of OBJ: expected ..." in pg and gives def. */
double      rj_num(RPage *pg, const RRun *r, const cJSON *o, const char *key, double def);
/* an integer-valued field in [-1e9, 1e9] (a double outside it is an error, never cast) */
int         rj_int(RPage *pg, const RRun *r, const cJSON *o, const char *key, int def);
const char *rj_str(RPage *pg, const RRun *r, const cJSON *o, const char *key, const char *def);
const cJSON *rj_arr(RPage *pg, const RRun *r, const cJSON *o, const char *key);
const cJSON *rj_obj(RPage *pg, const RRun *r, const cJSON *o, const char *key);
/* The numbers of an array (at most max of them; more is an error): *out malloc'ed (NULL when
 * empty), returns the count, -1 on error. */
int rj_nums(RPage *pg, const RRun *r, const cJSON *arr, const char *what, int max, double **out);
int rj_fail(RPage *pg, const RRun *r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------- builders */
void report_basics(RPage *pg, const RRun *runs, int n);
void report_ptq_nn(RPage *pg, const RRun *runs, int n);
void report_qat(RPage *pg, const RRun *runs, int n);
void report_ptq_llm(RPage *pg, const RRun *runs, int n, const cJSON *anchors, const char *anchors_name);
void report_bench(RPage *pg, const RRun *runs, int n);
/* validates a --compare file (report_llm.c): 0, or -1 with the error in pg */
int report_anchors_check(RPage *pg, const cJSON *anchors, const char *name);

/* labels: "NAME: what" when several runs share a plot, "what" for one */
void run_label(const RRun *r, int n_runs, const char *what, char *buf, size_t n);

#endif
