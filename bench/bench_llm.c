/* bench_llm.c — LLM inference speed (not a test): prompt (batched) and generation (one token
 * per call, KV cache) tokens/s for stories260K and for a GPT-2-small-shaped (124M) model with
 * random weights, printed beside this machine's memory-bandwidth bound.
 *
 * The bound: generating one token reads every weight once, so tokens/s <= bandwidth / weight
 * bytes (fp32).  Bandwidth is measured here with a streaming read (sum over a 512 MiB array,
 * all threads).  A model that fits in cache (stories260K: 1 MB) is compute/latency bound and
 * can exceed the DRAM figure.
 *
 *   build/bench/bench_llm [--threads N] [--skip-gpt2]       (data: $QUANT_DATA_DIR or ../shared/data) */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "quant/llm_eval.h"
#include "quant/llm_open.h"
#include "quant/safetensors.h"

static double bandwidth_gbs(void) {
    size_t n = (size_t)512 << 20 >> 2;   /* 512 MiB of floats */
    float *a = xmalloc(n * sizeof(float));
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 1023);
    double best = 0;
    volatile double sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = qtime_now(), s = 0;
        /* 16 independent accumulators per thread so the adds vectorize and the loop is
         * limited by memory, not by the latency of one dependent add chain */
#pragma omp parallel reduction(+ : s)
        {
            float acc[16] = {0};
#pragma omp for schedule(static)
            for (size_t b = 0; b < n / 16; b++)
                for (int j = 0; j < 16; j++) acc[j] += a[b * 16 + j];
            for (int j = 0; j < 16; j++) s += acc[j];
        }
        double dt = qtime_now() - t0;
        sink += s;
        double gbs = (double)n * sizeof(float) / dt / 1e9;
        if (gbs > best) best = gbs;
    }
    (void)sink;
    free(a);
    return best;
}

/* prompt: one call of T tokens; generation: `gen` single-token calls after it. */
static void bench_model(const char *label, const LlmModel *m, int T, int gen, double bw, QTable *tab) {
    int V = m->c.vocab_size;
    int32_t *ids = xmalloc((size_t)(T + gen) * sizeof(int32_t));
    QRng r;
    qrng_seed(&r, 1);
    for (int i = 0; i < T + gen; i++) ids[i] = (int32_t)qrng_below(&r, (uint32_t)V);
    LlmState s;
    llm_state_init(&s, m, T);
    llm_forward(m, &s, ids, T, 0, NULL, NULL);   /* warm-up */
    double best_p = 1e30, best_g = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = qtime_now();
        llm_forward(m, &s, ids, T, 0, NULL, NULL);
        double tp = qtime_now() - t0;
        t0 = qtime_now();
        for (int i = 0; i < gen; i++) llm_forward(m, &s, ids + T + i, 1, T + i, NULL, NULL);
        double tg = qtime_now() - t0;
        best_p = tp < best_p ? tp : best_p;
        best_g = tg < best_g ? tg : best_g;
    }
    double wbytes = (double)llm_n_params(m) * 4.0;
    qtable_new_row(tab);
    qtable_cell(tab, "%s", label);
    qtable_cell(tab, "%.2fM", (double)llm_n_params(m) / 1e6);
    qtable_cell(tab, "%d", T);
    qtable_cell(tab, "%.0f", T / best_p);
    qtable_cell(tab, "%.1f", gen / best_g);
    qtable_cell(tab, "%.1f", bw * 1e9 / wbytes);
    qtable_cell(tab, "%.0f%%", 100.0 * (gen / best_g) / (bw * 1e9 / wbytes));
    llm_state_free(&s);
    free(ids);
}

/* A GPT-2-small-shaped directory (config.json + BF16 model.safetensors) with random weights. */
static int write_gpt2_small(const char *dir, QErr *err) {
    const int D = 768, L = 12, V = 50257, S = 1024, F = 3072;
    if (qmkdir_p(dir, err)) return -1;
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2LMHeadModel"));
    cJSON_AddNumberToObject(c, "n_embd", D);
    cJSON_AddNumberToObject(c, "n_layer", L);
    cJSON_AddNumberToObject(c, "n_head", 12);
    cJSON_AddNumberToObject(c, "n_positions", S);
    cJSON_AddNumberToObject(c, "vocab_size", V);
    int rc = qjson_write_file(path, c, err);
    cJSON_Delete(c);
    if (rc) return -1;
    StWriteTensor t[2 + 12 * 12 + 2];
    char names[2 + 12 * 12 + 2][64];
    int n = 0;
    size_t total = 0;
#define ADD(nm, d0, d1)                                                                  \
    do {                                                                                 \
        snprintf(names[n], 64, "%s", nm);                                                \
        t[n] = (StWriteTensor){names[n], ST_BF16, (d1) ? 2 : 1, {(d0), (d1)}, NULL};     \
        total += (size_t)(d0) * ((d1) ? (size_t)(d1) : 1);                               \
        n++;                                                                             \
    } while (0)
    ADD("wte.weight", V, D);
    ADD("wpe.weight", S, D);
    for (int l = 0; l < L; l++) {
        char p[64];
        const char *sfx[12] = {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                               "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
                               "mlp.c_proj.weight", "mlp.c_proj.bias"};
        const int d0[12] = {D, D, D, 3 * D, D, D, D, D, D, F, F, D}, d1[12] = {0, 0, 3 * D, 0, D, 0, 0, 0, F, 0, D, 0};
        for (int k = 0; k < 12; k++) {
            snprintf(p, sizeof p, "h.%d.%s", l, sfx[k]);
            ADD(p, d0[k], d1[k]);
        }
    }
    ADD("ln_f.weight", D, 0);
    ADD("ln_f.bias", D, 0);
    uint16_t *buf = xmalloc(total * sizeof(uint16_t));
    QRng r;
    qrng_seed(&r, 3);
    for (size_t i = 0; i < total; i++) buf[i] = qf32_to_bf16(0.02f * qrng_normal(&r));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        t[i].data = buf + off;
        off += (size_t)t[i].shape[0] * (t[i].ndim == 2 ? (size_t)t[i].shape[1] : 1);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = st_write(path, t, n, NULL, NULL, 0, err);
    free(buf);
    return rc;
}

int main(int argc, char **argv) {
    int skip_gpt2 = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) qthreads_set(atoi(argv[++i]));
        else if (strcmp(argv[i], "--skip-gpt2") == 0) skip_gpt2 = 1;
    }
    QErr err = {{0}};
    double bw = bandwidth_gbs();
    printf("memory bandwidth (streaming read, %d threads): %.1f GB/s\n", qthreads_get(), bw);
    const char *hdr[] = {"model", "params", "prompt T", "prompt tok/s", "gen tok/s", "bound tok/s", "of bound"};
    QTable tab;
    qtable_init(&tab, 7, hdr);
    for (int c = 1; c < 7; c++) qtable_align_right(&tab, c, 1);
    char mp[512], tp[512];
    snprintf(mp, sizeof mp, "%s/stories260K.bin", quant_data_dir());
    snprintf(tp, sizeof tp, "%s/tok512.bin", quant_data_dir());
    LlmModel m;
    Tokenizer *tok;
    if (llm_open(mp, tp, &m, &tok, &err) == 0) {
        bench_model("stories260K", &m, 256, 256, bw, &tab);
        tokenizer_free(tok);
        llm_free(&m);
    } else {
        fprintf(stderr, "skipping stories260K: %s\n", err.msg);
    }
    if (!skip_gpt2) {
        const char *base = getenv("TMPDIR");
        char dir[512];
        snprintf(dir, sizeof dir, "%s/bench-gpt2-small-%d", base && *base ? base : "/tmp", (int)getpid());
        qlog("writing a random GPT-2-small-shaped model to %s", dir);
        if (write_gpt2_small(dir, &err) == 0 && llm_load(&m, dir, &err) == 0) {
            bench_model("gpt2-small-random", &m, 128, 32, bw, &tab);
            llm_free(&m);
        } else {
            fprintf(stderr, "gpt2-small: %s\n", err.msg);
        }
        char p[600];
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/config.json", dir);
        unlink(p);
        rmdir(dir);
    }
    qtable_print(&tab, stdout);
    qtable_free(&tab);
    printf("(bound = bandwidth / fp32 weight bytes; timings on a shared machine are noisy)\n");
    return 0;
}
