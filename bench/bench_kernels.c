/* bench_kernels.c — speed of the fp32 (BLAS) and int8 linear kernels on the MLP's layer
 * shapes (784-256-128-10), at batch M = 1 and 256, 1 and 2 threads, every int8 ISA the CPU
 * has.  Not a test: prints a table (and --json FILE); nothing here asserts a speed.
 *
 *   build/bench/bench_kernels [--json FILE] [--min-time S]
 *
 * Each figure is the best of 5 trials, a trial being as many calls as fill --min-time
 * seconds (best-of rather than mean: the machine is shared, and interference only ever
 * slows a run down).  GOP/s counts 2*M*N*K (multiply + add) per linear layer; the "mlp"
 * rows chain the three layers as inference does, float images in and float logits out
 * (int8: quantize the input, two requantized layers with fused ReLU, the int32 logits
 * layer, dequantize; fp32: sgemm/sgemv + bias, ReLU), and also give images per second. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/core.h"
#include "quant/kernels.h"

enum { NL = 3 };
static const int DIMS[NL + 1] = {784, 256, 128, 10};

typedef struct Net {
    int M;
    float *xf[NL + 1];      /* fp32 activations [M, DIMS[l]] */
    float *wf[NL], *bf[NL]; /* fp32 weights [DIMS[l+1], DIMS[l]], bias [DIMS[l+1]] */
    int8_t *xq[NL + 1];     /* int8 activations [M, DIMS[l]] */
    int32_t *acc;           /* int32 logits [M, DIMS[NL]] */
    KernS8Weights *wq[NL];
    int32_t *bq[NL], *mult[NL], *shift[NL];
} Net;

static void net_init(Net *n, int M, KernIsa isa, QRng *rng) {
    memset(n, 0, sizeof *n);
    n->M = M;
    for (int l = 0; l <= NL; l++) {
        size_t sz = (size_t)M * DIMS[l];
        n->xf[l] = xmalloc(sz * sizeof(float));
        n->xq[l] = xmalloc(sz);
        for (size_t i = 0; i < sz; i++) {
            n->xf[l][i] = qrng_uniform(rng);
            n->xq[l][i] = (int8_t)(qrng_u32(rng) & 0xff);
        }
    }
    n->acc = xmalloc((size_t)M * DIMS[NL] * sizeof(int32_t));
    for (int l = 0; l < NL; l++) {
        int N = DIMS[l + 1], K = DIMS[l];
        n->wf[l] = xmalloc((size_t)N * K * sizeof(float));
        n->bf[l] = xmalloc((size_t)N * sizeof(float));
        int8_t *w = xmalloc((size_t)N * K);
        for (size_t i = 0; i < (size_t)N * K; i++) {
            n->wf[l][i] = qrng_normal(rng) * 0.05f;
            w[i] = (int8_t)(qrng_u32(rng) & 0xff);
        }
        n->wq[l] = kern_s8_weights_pack(w, N, K, isa);
        free(w);
        n->bq[l] = xmalloc((size_t)N * sizeof(int32_t));
        n->mult[l] = xmalloc((size_t)N * sizeof(int32_t));
        n->shift[l] = xmalloc((size_t)N * sizeof(int32_t));
        for (int j = 0; j < N; j++) {
            n->bf[l][j] = qrng_normal(rng) * 0.1f;
            n->bq[l][j] = (int32_t)qrng_below(rng, 20001) - 10000;
            kern_quantize_multiplier(1e-4 * (1.0 + qrng_uniform(rng)), &n->mult[l][j], &n->shift[l][j]);
        }
    }
}

static void net_free(Net *n) {
    for (int l = 0; l <= NL; l++) {
        free(n->xf[l]);
        free(n->xq[l]);
    }
    for (int l = 0; l < NL; l++) {
        free(n->wf[l]);
        free(n->bf[l]);
        kern_s8_weights_free(n->wq[l]);
        free(n->bq[l]);
        free(n->mult[l]);
        free(n->shift[l]);
    }
    free(n->acc);
}

/* What one timed call does: layer l (0..NL-1) alone, or the whole MLP (l == NL). */
typedef struct Job {
    Net *net;
    int layer;
    int int8;
} Job;

static void run_f32_layer(Net *n, int l) {
    kern_linear_f32(n->M, DIMS[l + 1], DIMS[l], n->xf[l], n->wf[l], n->bf[l], n->xf[l + 1]);
}

static void run_s8_layer(Net *n, int l, int requant) {
    if (requant) {
        KernRequant rq = {n->mult[l], n->shift[l], -5, -5, 127};
        kern_qlinear_s8(n->M, n->xq[l], 3, n->wq[l], n->bq[l], &rq, n->xq[l + 1]);
    } else {
        kern_qlinear_s8_acc(n->M, n->xq[l], 3, n->wq[l], n->bq[l], n->acc);
    }
}

static void job_run(const Job *j) {
    Net *n = j->net;
    if (j->layer < NL) {
        if (j->int8) run_s8_layer(n, j->layer, j->layer + 1 < NL);
        else run_f32_layer(n, j->layer);
        return;
    }
    /* int8 end to end, as fp32 is: quantize the float input first, dequantize the logits last */
    if (j->int8)
        kern_quantize_f32_s8((int64_t)n->M * DIMS[0], n->xf[0], 1.0f / 127, -3, -128, 127, n->xq[0],
                             kern_s8_weights_isa(n->wq[0]));
    for (int l = 0; l < NL; l++) {
        if (j->int8) {
            run_s8_layer(n, l, l + 1 < NL);
        } else {
            run_f32_layer(n, l);
            if (l + 1 < NL) {
                float *y = n->xf[l + 1];
                for (size_t i = 0; i < (size_t)n->M * DIMS[l + 1]; i++) y[i] = y[i] > 0 ? y[i] : 0;
            }
        }
    }
    if (j->int8)
        for (size_t i = 0; i < (size_t)n->M * DIMS[NL]; i++) n->xf[NL][i] = (float)n->acc[i] * 1e-4f;
}

/* Seconds per call: best of 5 trials of >= min_time seconds each. */
static double time_job(const Job *j, double min_time) {
    for (int i = 0; i < 3; i++) job_run(j); /* warm caches, thread pools */
    double best = 1e30;
    for (int t = 0; t < 5; t++) {
        long reps = 0;
        double t0 = qtime_now(), el;
        do {
            job_run(j);
            reps++;
            el = qtime_now() - t0;
        } while (el < min_time);
        if (el / reps < best) best = el / reps;
    }
    return best;
}

int main(int argc, char **argv) {
    const char *json = NULL;
    double min_time = 0.05;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) json = argv[++i];
        else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) min_time = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--json FILE] [--min-time SECONDS]\n", argv[0]);
            return 2;
        }
    }
    KernIsa best = kern_isa_best();
    static const char *const hdr[] = {"kernel", "layer", "M", "threads", "us/call", "GOP/s", "img/s"};
    QTable t;
    qtable_init(&t, 7, hdr);
    for (int c = 2; c < 7; c++) qtable_align_right(&t, c, 1);
    cJSON *root = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(root, "rows");
    cJSON_AddStringToObject(root, "isa_best", kern_isa_name(best));
    QRng rng;
    qrng_seed(&rng, 1);
    static const int Ms[2] = {1, 256};
    for (int threads = 1; threads <= 2; threads++) {
        qthreads_set(threads);
        for (int mi = 0; mi < 2; mi++) {
            int M = Ms[mi];
            /* kernel index -1 = fp32 BLAS, else the int8 ISA */
            for (int kind = -1; kind <= (int)best; kind++) {
                Net net;
                net_init(&net, M, kind < 0 ? KERN_ISA_SCALAR : (KernIsa)kind, &rng);
                const char *kname = kind < 0 ? "fp32-blas" : kern_isa_name((KernIsa)kind);
                for (int l = 0; l <= NL; l++) {
                    Job j = {&net, l, kind >= 0};
                    double s = time_job(&j, min_time);
                    double ops = 0;
                    for (int q = (l < NL ? l : 0); q < (l < NL ? l + 1 : NL); q++) ops += 2.0 * M * DIMS[q + 1] * DIMS[q];
                    char lname[32];
                    if (l < NL) snprintf(lname, sizeof lname, "%dx%d", DIMS[l], DIMS[l + 1]);
                    else snprintf(lname, sizeof lname, "mlp");
                    qtable_new_row(&t);
                    qtable_cell(&t, "%s", kname);
                    qtable_cell(&t, "%s", lname);
                    qtable_cell(&t, "%d", M);
                    qtable_cell(&t, "%d", threads);
                    qtable_cell(&t, "%.2f", s * 1e6);
                    qtable_cell(&t, "%.1f", ops / s * 1e-9);
                    if (l == NL) qtable_cell(&t, "%.0f", M / s);
                    else qtable_cell(&t, "-");
                    cJSON *r = cJSON_CreateObject();
                    cJSON_AddStringToObject(r, "kernel", kname);
                    cJSON_AddStringToObject(r, "layer", lname);
                    cJSON_AddNumberToObject(r, "M", M);
                    cJSON_AddNumberToObject(r, "threads", threads);
                    cJSON_AddNumberToObject(r, "us_per_call", s * 1e6);
                    cJSON_AddNumberToObject(r, "gops", ops / s * 1e-9);
                    if (l == NL) cJSON_AddNumberToObject(r, "img_s", M / s);
                    cJSON_AddItemToArray(rows, r);
                    qlog("%s %s M=%d threads=%d: %.2f us", kname, lname, M, threads, s * 1e6);
                }
                net_free(&net);
            }
        }
    }
    qtable_print(&t, stdout);
    int rc = 0;
    if (json) {
        QErr err;
        if (qjson_write_file(json, root, &err)) {
            fprintf(stderr, "bench_kernels: error: %s\n", err.msg);
            rc = 1;
        }
    }
    qtable_free(&t);
    cJSON_Delete(root);
    return rc;
}
