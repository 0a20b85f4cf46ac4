/* bench_nn.c — our side of the MLP benchmark against bench/torch_mlp.py (issue 2, part 7).
 * Not a test: prints a table and (--json FILE) JSON with the same keys torch_mlp.py writes,
 * so bench/compare_nn.sh can put the two side by side.  Nothing here asserts a speed.
 *
 * The recipe is torch_mlp.py's: 784-256-128-10 ReLU MLP, Adam 1e-3, batch 128, 5 epochs,
 * seed 0, Fashion-MNIST from the .gz files; then static W8A8 with the library calls
 * ptq-nn uses (calibrate on the first 1000 training images with minmax, convert to the
 * integer model, pack the weights for the best int8 ISA).  Inference timing as in
 * torch_mlp.py: latency at batch 1 = median of --reps-b1 single-image forwards of the same
 * test image (after 200 warm-up calls); throughput at batch 256 = 256 / median time of
 * --reps-b256 forwards of the first 256 test images (after 20 warm-ups).  Both paths take
 * float images and return float logits (the int8 path quantizes on entry and dequantizes
 * the logits, as torch's QuantStub/DeQuantStub model does).
 *
 *   build/bench/bench_nn [--threads N] [--epochs 5] [--seed 0] [--data DIR]
 *                        [--reps-b1 2000] [--reps-b256 200] [--json FILE] */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/core.h"
#include "quant/kernels.h"
#include "quant/nn_data.h"
#include "quant/nn_model.h"
#include "quant/nn_ptq.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef void (*ForwardFn)(void *ctx, const float *x, int B);

/* Median seconds of reps calls of f(x, B) after warmup calls. */
static double median_time(ForwardFn f, void *ctx, const float *x, int B, int reps, int warmup) {
    for (int i = 0; i < warmup; i++) f(ctx, x, B);
    double *t = xmalloc((size_t)reps * sizeof *t);
    for (int i = 0; i < reps; i++) {
        double t0 = qtime_now();
        f(ctx, x, B);
        t[i] = qtime_now() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    double med = t[reps / 2];
    free(t);
    return med;
}

typedef struct FpCtx {
    const NnModel *m;
    NnWorkspace ws;
} FpCtx;
static void fp_forward(void *ctx, const float *x, int B) {
    FpCtx *c = ctx;
    nn_model_forward(c->m, &c->ws, x, B, NULL, NULL, NULL);
}

typedef struct QCtx {
    const NnQModel *q;
    NnQWorkspace ws;
    float logits[256 * 10];  /* [B, 10] dequantized logits, as torch's DeQuantStub returns */
} QCtx;
static void q_forward(void *ctx, const float *x, int B) {
    QCtx *c = ctx;
    nn_qmodel_forward(c->q, &c->ws, x, B, NULL, c->logits);
}

static int usage(void) {
    fprintf(stderr, "usage: bench_nn [--threads N] [--epochs 5] [--seed 0] [--data DIR] [--reps-b1 2000] "
                    "[--reps-b256 200] [--json FILE]\n");
    return 2;
}

int main(int argc, char **argv) {
    int threads = 1, epochs = 5, reps_b1 = 2000, reps_b256 = 200;
    unsigned long long seed = 0;
    const char *data = NN_FASHION_DEFAULT_DIR, *json = NULL;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--epochs")) epochs = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--reps-b1")) reps_b1 = atoi(v);
        else if (!strcmp(a, "--reps-b256")) reps_b256 = atoi(v);
        else if (!strcmp(a, "--json")) json = v;
        else return usage();
    }
    if (threads < 1 || epochs < 1 || reps_b1 < 1 || reps_b256 < 1) return usage();
    qthreads_set(threads);

    QErr err = {0};
    NnDataset train, test;
    if (nn_dataset_load_split(&train, data, 1, &err) || nn_dataset_load_split(&test, data, 0, &err)) {
        fprintf(stderr, "bench_nn: error: %s\n", err.msg);
        return 1;
    }
    if (test.n < 256) {
        fprintf(stderr, "bench_nn: error: %s: need at least 256 test images, found %lld\n", data, (long long)test.n);
        return 1;
    }

    /* ---- fp32 training (init and shuffling seeded as ptq-nn does) */
    NnModel m;
    QRng rng;
    qrng_seed(&rng, seed);
    const int hidden[2] = {256, 128};
    if (nn_mlp_init(&m, train.rows * train.cols, hidden, 2, 10, &rng, &err)) {
        fprintf(stderr, "bench_nn: error: %s\n", err.msg);
        return 1;
    }
    NnTrainOpts to;
    nn_train_opts_default(&to);
    to.epochs = epochs;
    to.seed = seed;
    NnTrainStats st;
    nn_train(&m, &train, &to, &st);
    double acc_fp32 = nn_model_accuracy(&m, &test, NULL, NULL);

    /* ---- static W8A8 integer model */
    QParams act[NN_MAX_LAYERS];
    memset(act, 0, sizeof act);
    NnQModel qm;
    if (nn_calibrate_activations(&m, &train, 1000, QOBS_MINMAX, 8, act, &err) ||
        nn_qmodel_convert(&m, act, &qm, &err)) {
        fprintf(stderr, "bench_nn: error: %s\n", err.msg);
        return 1;
    }
    KernIsa isa = kern_isa_best();
    nn_qmodel_pack(&qm, isa);
    double acc_int8 = nn_qmodel_accuracy(&qm, &test, NULL);

    /* ---- inference timing */
    const float *x1 = test.images, *x256 = test.images;
    FpCtx fc = {&m, {0}};
    nn_workspace_init(&fc.ws, &m, 256);
    QCtx *qc = xcalloc(1, sizeof *qc);
    qc->q = &qm;
    nn_qworkspace_init(&qc->ws, &qm, 256);
    double b1_fp = median_time(fp_forward, &fc, x1, 1, reps_b1, 200);
    double b256_fp = median_time(fp_forward, &fc, x256, 256, reps_b256, 20);
    double b1_q = median_time(q_forward, qc, x1, 1, reps_b1, 200);
    double b256_q = median_time(q_forward, qc, x256, 256, reps_b256, 20);

    printf("quant (ours), int8 kernels %s, %d thread(s)\n", kern_isa_name(isa), threads);
    printf("%-10s %8s %9s %12s\n", "", "acc %", "b1 ms", "b256 img/s");
    printf("%-10s %8.2f %9.4f %12.0f\n", "fp32", 100 * acc_fp32, b1_fp * 1e3, 256 / b256_fp);
    printf("%-10s %8.2f %9.4f %12.0f\n", "int8", 100 * acc_int8, b1_q * 1e3, 256 / b256_q);
    printf("training: %.2f s/epoch (%d epochs)\n", st.total_seconds / epochs, epochs);

    int rc = 0;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "framework", "quant");
        cJSON_AddStringToObject(o, "engine", kern_isa_name(isa));
        cJSON_AddNumberToObject(o, "threads", threads);
        cJSON_AddNumberToObject(o, "epochs", epochs);
        cJSON_AddNumberToObject(o, "seed", (double)seed);
        cJSON_AddNumberToObject(o, "acc_fp32", acc_fp32);
        cJSON_AddNumberToObject(o, "acc_int8", acc_int8);
        cJSON_AddNumberToObject(o, "train_s_per_epoch", st.total_seconds / epochs);
        cJSON_AddNumberToObject(o, "train_s_total", st.total_seconds);
        cJSON_AddNumberToObject(o, "lat_b1_fp32_ms", b1_fp * 1e3);
        cJSON_AddNumberToObject(o, "lat_b256_fp32_ms", b256_fp * 1e3);
        cJSON_AddNumberToObject(o, "thr_b256_fp32_img_s", 256 / b256_fp);
        cJSON_AddNumberToObject(o, "lat_b1_int8_ms", b1_q * 1e3);
        cJSON_AddNumberToObject(o, "lat_b256_int8_ms", b256_q * 1e3);
        cJSON_AddNumberToObject(o, "thr_b256_int8_img_s", 256 / b256_q);
        if (qjson_write_file(json, o, &err)) {
            fprintf(stderr, "bench_nn: error: %s\n", err.msg);
            rc = 1;
        }
        cJSON_Delete(o);
    }
    nn_workspace_free(&fc.ws);
    nn_qworkspace_free(&qc->ws);
    free(qc);
    nn_qmodel_free(&qm);
    for (int l = 0; l < NN_MAX_LAYERS; l++)
        if (act[l].scale) qparams_free(&act[l]);
    nn_model_free(&m);
    nn_dataset_free(&train);
    nn_dataset_free(&test);
    return rc;
}
