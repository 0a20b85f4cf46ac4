/* cmd_basics.c — `quant basics`: quantize a synthetic tensor every way and show the error. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "quant/observer.h"
#include "quant/qerror.h"
#include "quant/qparams.h"
#include "quant/synth.h"

static const char *usage =
    "usage: quant basics [--value 0.5372] [--bits 8,4,3,2] [--dist gaussian|uniform|laplace|outliers]\n"
    "                    [--rows 16] [--cols 256] [--group-size 32] [--observer minmax|percentile|mse|entropy]\n"
    "                    [--seed 0] [--json FILE]\n";

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
    const char *json = args_str(a, "json", NULL);
    if (args_finish(a, err)) return free(bits), 2;

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
    cJSON *root = cJSON_CreateObject(), *rowsj = cJSON_AddArrayToObject(root, "rows");
    QGranularity grans[3] = {QGRAN_TENSOR, QGRAN_CHANNEL, QGRAN_GROUP};
    for (int b = 0; b < nb; b++)
        for (int s = 1; s >= 0; s--)
            for (int g = 0; g < 3; g++) {
                if (qparams_init(&p, (int)bits[b], s, grans[g], group, rows, cols, err)) {
                    free(t);
                    free(out);
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
                qparams_free(&p);
            }
    qtable_print(&tb, stdout);
    printf("(bits/weight counts a 16-bit scale per unit, plus a zero-point of `bits` bits when affine)\n");
    qtable_free(&tb);
    int rc = 0;
    if (json) rc = qjson_write_file(json, root, err) ? 1 : 0;
    cJSON_Delete(root);
    free(t);
    free(out);
    free(bits);
    return rc;
}
