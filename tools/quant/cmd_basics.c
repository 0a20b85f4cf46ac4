/* cmd_basics.c — `quant basics`: quantize a synthetic tensor every way and show the error. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "quant/observer.h"
#include "quant/qerror.h"
#include "quant/qparams.h"
#include "quant/report.h"
#include "quant/synth.h"

enum { ERR_BINS = 41 }; /* bins of the error histograms (odd: one centred on 0) */

/* A histogram object {"lo", "hi", "counts"} of v[0..n) over [lo, hi]. */
static cJSON *hist_json(const float *v, int64_t n, double lo, double hi, int nbins) {
    int64_t *c = xcalloc((size_t)nbins, sizeof(int64_t));
    qhistogram(v, n, lo, hi, nbins, c);
    cJSON *h = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(h, "counts");
    cJSON_AddNumberToObject(h, "lo", lo);
    cJSON_AddNumberToObject(h, "hi", hi);
    for (int k = 0; k < nbins; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)c[k]));
    free(c);
    return h;
}

static const char *usage =
    "usage: quant basics [--value 0.5372] [--bits 8,4,3,2] [--dist gaussian|uniform|laplace|outliers]\n"
    "                    [--rows 16] [--cols 256] [--group-size 32] [--observer minmax|percentile|mse|entropy]\n"
    "                    [--seed 0] [--json FILE] [--report FILE.html]\n";

int cmd_basics(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    double value;
    long rows, cols, group, seed, *bits = NULL;
    int nb;
    QSynthKind dist;
    QObserverKind obs;
    if (args_double(a, "value", 0.5372, 0.0, 1.0, &value, err) || args_int(a, "rows", 16, 1, 1 << 16, &rows, err) ||
        args_int(a, "cols", 256, 1, 1 << 20, &cols, err) || args_int(a, "group-size", 32, 1, 1 << 20, &group, err) ||
        args_int(a, "seed", 0, 0, 2147483647L, &seed, err) || qsynth_kind_parse(args_str(a, "dist", "gaussian"), &dist, err) ||
        qobserver_kind_parse(args_str(a, "observer", "minmax"), &obs, err))
        return 2;
    if (args_int_list(a, "bits", "8,4,3,2", 2, 8, &bits, &nb, err)) return 2;
    const char *json = args_str(a, "json", NULL), *report = args_str(a, "report", NULL);
    if (args_finish(a, err)) return free(bits), 2;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", "basics");

    /* 1. one value on the 8-bit affine grid over [0, 1] */
    QParams p;
    qparams_init(&p, 8, 0, QGRAN_TENSOR, 0, 1, 1, err);
    qparams_set_range(&p, 0, 0.0f, 1.0f);
    float x = (float)value, y;
    int8_t q;
    quantize(&p, &x, &q);
    dequantize(&p, &q, &y);
    printf("8-bit affine grid over [0, 1]: scale s = 1/255 = %.8f, zero-point z = %d (codes -128..127)\n", p.scale[0], p.zero[0]);
    printf("x = %.4f -> q = round(x / s) + z = %d -> x_hat = s * (q - z) = %.6f (level %d of 0..255), error %.6f <= s/2 = %.6f\n\n",
           x, q, y, q - p.zero[0], x - y, p.scale[0] / 2);
    qparams_free(&p);
    /* the same value on the grid of every requested width (the report's value line) */
    cJSON *ex = cJSON_AddObjectToObject(root, "example"), *grids = cJSON_AddArrayToObject(ex, "grids");
    cJSON_AddNumberToObject(ex, "value", value);
    cJSON_AddNumberToObject(ex, "lo", 0.0);
    cJSON_AddNumberToObject(ex, "hi", 1.0);
    for (int b = -1; b < nb; b++) {
        int bw = b < 0 ? 8 : (int)bits[b];
        if (b >= 0 && bw == 8) continue;
        QParams g;
        qparams_init(&g, bw, 0, QGRAN_TENSOR, 0, 1, 1, err);
        qparams_set_range(&g, 0, 0.0f, 1.0f);
        float yy;
        int8_t qq;
        quantize(&g, &x, &qq);
        dequantize(&g, &qq, &yy);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "bits", bw);
        cJSON_AddNumberToObject(o, "scale", g.scale[0]);
        cJSON_AddNumberToObject(o, "zero_point", g.zero[0]);
        cJSON_AddNumberToObject(o, "qmin", g.qmin);
        cJSON_AddNumberToObject(o, "qmax", g.qmax);
        cJSON_AddNumberToObject(o, "code", qq);
        cJSON_AddNumberToObject(o, "dequantized", yy);
        cJSON_AddNumberToObject(o, "error", (double)yy - (double)x);
        cJSON_AddItemToArray(grids, o);
        qparams_free(&g);
    }

    /* 2. a synthetic tensor, every width x scheme x granularity */
    QRng r;
    qrng_seed(&r, (uint64_t)seed);
    int64_t n = rows * cols;
    float *t = xmalloc((size_t)n * sizeof(float)), *out = xmalloc((size_t)n * sizeof(float));
    qsynth_fill(&r, dist, t, rows, cols);
    printf("tensor: %ld x %ld %s values (row i scaled by (i+1)/%ld), observer %s\n", rows, cols, args_str(a, "dist", "gaussian"),
           rows, qobserver_kind_name(obs));
    const char *hdr[] = {"bits", "scheme", "granularity", "scales", "mean |scale|", "MSE", "SQNR dB", "max |err|", "bits/weight"};
    QTable tb;
    qtable_init(&tb, 9, hdr);
    for (int c = 3; c < 9; c++) qtable_align_right(&tb, c, 1);
    cJSON *tj = cJSON_AddObjectToObject(root, "tensor");
    cJSON_AddNumberToObject(tj, "rows", (double)rows);
    cJSON_AddNumberToObject(tj, "cols", (double)cols);
    cJSON_AddStringToObject(tj, "dist", args_str(a, "dist", "gaussian"));
    cJSON_AddStringToObject(tj, "observer", qobserver_kind_name(obs));
    cJSON_AddNumberToObject(tj, "group_size", (double)group);
    cJSON_AddNumberToObject(tj, "seed", (double)seed);
    cJSON *rowsj = cJSON_AddArrayToObject(root, "rows");
    QGranularity grans[3] = {QGRAN_TENSOR, QGRAN_CHANNEL, QGRAN_GROUP};
    /* the six errors x_hat - x of one width, kept until their common histogram range is known */
    float *errs = xmalloc((size_t)6 * n * sizeof(float));
    cJSON *wrows[6];
    for (int b = 0; b < nb; b++) {
        int nv = 0;
        double emax = 0;
        for (int s = 1; s >= 0; s--)
            for (int g = 0; g < 3; g++) {
                if (qparams_init(&p, (int)bits[b], s, grans[g], group, rows, cols, err)) {
                    free(t);
                    free(out);
                    free(errs);
                    free(bits);
                    cJSON_Delete(root);
                    qtable_free(&tb);
                    return 2;
                }
                qparams_fit_observer(&p, t, obs);
                fake_quantize(&p, t, out);
                QErrorStats st = qerror_stats(t, out, n);
                double ms = 0;
                for (int64_t k = 0; k < p.n; k++) ms += fabsf(p.scale[k]);
                ms /= (double)p.n;
                char gname[32];
                if (g == 2) snprintf(gname, sizeof gname, "group %ld", group);
                else snprintf(gname, sizeof gname, "%s", g ? "channel" : "tensor");
                qtable_new_row(&tb);
                qtable_cell(&tb, "%ld", bits[b]);
                qtable_cell(&tb, "%s", s ? "symmetric" : "affine");
                qtable_cell(&tb, "%s", gname);
                qtable_cell(&tb, "%lld", (long long)p.n);
                qtable_cell(&tb, "%.5f", ms);
                qtable_cell(&tb, "%.3g", st.mse);
                qtable_cell(&tb, "%.2f", st.sqnr_db);
                qtable_cell(&tb, "%.4f", st.max_abs);
                qtable_cell(&tb, "%.3f", qparams_bits_per_weight(&p));
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "bits", (double)bits[b]);
                cJSON_AddStringToObject(o, "scheme", s ? "symmetric" : "affine");
                cJSON_AddStringToObject(o, "granularity", gname);
                cJSON_AddNumberToObject(o, "mse", st.mse);
                cJSON_AddNumberToObject(o, "sqnr_db", st.sqnr_db);
                cJSON_AddNumberToObject(o, "max_abs_error", st.max_abs);
                cJSON_AddNumberToObject(o, "bits_per_weight", qparams_bits_per_weight(&p));
                cJSON_AddItemToArray(rowsj, o);
                for (int64_t i = 0; i < n; i++) errs[(size_t)nv * n + i] = out[i] - t[i];
                if (st.max_abs > emax) emax = st.max_abs;
                wrows[nv++] = o;
                qparams_free(&p);
            }
        if (!(emax > 0)) emax = 1e-12;
        for (int v = 0; v < nv; v++)
            cJSON_AddItemToObject(wrows[v], "error_histogram", hist_json(errs + (size_t)v * n, n, -emax, emax, ERR_BINS));
    }
    free(errs);
    qtable_print(&tb, stdout);
    printf("(bits/weight counts a 16-bit scale per unit, plus a zero-point of `bits` bits when affine)\n");
    qtable_free(&tb);
    int rc = 0;
    report_add_run_info(root, a->cmdline);
    if (json) rc = qjson_write_file(json, root, err) ? 1 : 0;
    if (rc == 0 && report) rc = report_write(report, &root, NULL, 1, NULL, NULL, err) ? 1 : 0;
    cJSON_Delete(root);
    free(t);
    free(out);
    free(bits);
    return rc;
}
