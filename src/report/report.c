/* report.c — report_write: one page for one or several runs, a section per command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

static const char *commands[] = {"basics", "ptq-nn", "qat", "ptq-llm", "bench"};
enum { NCMD = 5 };

int report_write(const char *path, cJSON *const *runs, const char *const *names, int n, const cJSON *anchors,
                 const char *anchors_name, QErr *err) {
    if (n < 1) return qerr_set(err, "%s: no results to report", path);
    RRun *rr = xcalloc((size_t)n, sizeof(RRun));
    int *kind = xcalloc((size_t)n, sizeof(int));
    RPage pg = {{0}, 0, 0, err};
    qbuf_init(&pg.b);
    int rc = -1;
    for (int i = 0; i < n; i++) {
        rr[i].root = runs[i];
        rr[i].name = names && names[i] ? names[i] : "this run";
        const char *c = rj_str(&pg, &rr[i], runs[i], "command", NULL);
        if (pg.failed) goto out;
        kind[i] = -1;
        for (int k = 0; c && k < NCMD; k++)
            if (strcmp(c, commands[k]) == 0) kind[i] = k;
        if (kind[i] < 0) {
            rj_fail(&pg, &rr[i], "field \"command\": expected one of basics, ptq-nn, qat, ptq-llm, bench (got %s)",
                    c ? c : "nothing");
            goto out;
        }
    }
    if (anchors && report_anchors_check(&pg, anchors, anchors_name)) goto out; /* even when no ptq-llm run uses them */
    char title[256];
    if (n == 1) snprintf(title, sizeof title, "quant %s — report", commands[kind[0]]);
    else snprintf(title, sizeof title, "quant — %d runs side by side", n);
    page_begin(&pg, title);
    for (int i = 0; i < n; i++) page_run_header(&pg, &rr[i]);
    /* the runs of each command together, so their series share plots */
    RRun *sel = xcalloc((size_t)n, sizeof(RRun));
    for (int k = 0; k < NCMD && !pg.failed; k++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (kind[i] == k) sel[m++] = rr[i];
        if (!m) continue;
        switch (k) {
        case 0: report_basics(&pg, sel, m); break;
        case 1: report_ptq_nn(&pg, sel, m); break;
        case 2: report_qat(&pg, sel, m); break;
        case 3: report_ptq_llm(&pg, sel, m, anchors, anchors_name); break;
        default: report_bench(&pg, sel, m); break;
        }
    }
    free(sel);
    if (pg.failed) goto out;
    page_end(&pg);
    QWriter w;
    if (qwriter_open(&w, path, err)) goto out;
    if (qwriter_write(&w, pg.b.s, pg.b.n, err)) {
        qwriter_abort(&w);
        goto out;
    }
    if (qwriter_commit(&w, err)) goto out;
    rc = 0;
out:
    qbuf_free(&pg.b);
    free(rr);
    free(kind);
    return rc;
}
