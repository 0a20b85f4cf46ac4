/* cmd_bench.c — `quant bench`: prompt and decode speed of a model, the read bandwidth of this
 * machine measured in the same run (in a child process, so its buffer is not in the model's
 * peak RSS), the decode bound that bandwidth implies, and peak RSS. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "quant/kernels.h"
#include "quant/llm_bench.h"
#include "quant/report.h"

/* The bandwidth measurements come from a child forked before the model is loaded, which holds
 * its own buffer, written once, and measures on request.  Why a child: its buffer never counts
 * in the model's peak RSS, and it shares none of the model's pages.  Why one buffer kept:
 * mapping and writing 1 GiB afresh would add ~0.3 s to each of the 2 measurements a round. */
typedef struct BwChild {
    int req, resp; /* pipes: a byte asks for one measurement; the answer is a double (bytes/s) */
    pid_t pid;
} BwChild;

static int bw_child_start(BwChild *c, size_t bytes, int threads) {
    int rq[2], rs[2];
    c->pid = -1;
    if (pipe(rq)) return -1;
    if (pipe(rs)) {
        close(rq[0]);
        close(rq[1]);
        return -1;
    }
    fflush(NULL);
    c->pid = fork();
    if (c->pid == 0) {
        close(rq[1]);
        close(rs[0]);
        KernReadBuf *buf = kern_read_buf_new(bytes, threads);
        char ch;
        while (read(rq[0], &ch, 1) == 1) {
            double bw = kern_read_buf_bandwidth(buf, 5);
            if (write(rs[1], &bw, sizeof bw) != (ssize_t)sizeof bw) break;
        }
        kern_read_buf_free(buf);
        _exit(0);
    }
    close(rq[0]);
    close(rs[1]);
    c->req = rq[1];
    c->resp = rs[0];
    if (c->pid > 0) return 0;
    close(c->req); /* no child: every measurement answers 0, and the bound prints as 0 */
    close(c->resp);
    return -1;
}

/* One measurement (LlmBenchOpts.bandwidth); 0 when the child is not there. */
static double bw_child_measure(void *ctx) {
    BwChild *c = ctx;
    double bw = 0;
    if (c->pid <= 0 || write(c->req, "m", 1) != 1 || read(c->resp, &bw, sizeof bw) != (ssize_t)sizeof bw) return 0;
    return bw;
}

static void bw_child_stop(BwChild *c) {
    if (c->pid < 0) return;
    close(c->req);
    close(c->resp);
    if (c->pid > 0) waitpid(c->pid, NULL, 0);
}

int cmd_bench(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        puts("usage: quant bench --model FILE|DIR [--threads N] [--prompt-tokens 128] [--gen-tokens 64] [--rounds 3]\n"
             "                   [--kernels int|ref] [--bw-mib 1024] [--seed 0] [--json FILE] [--report FILE.html]\n"
             "  prompt: one forward over the prompt tokens; decode: the generated tokens one at a time (greedy);\n"
             "  random token ids (no tokenizer needed); medians over the rounds after one warm-up.\n"
             "  bandwidth: a streaming read over --bw-mib MiB with the same thread count, just before and just after\n"
             "  each round's decode; each round's decode is set against the mean of its two.");
        return 0;
    }
    const char *model = args_str(a, "model", NULL), *json = args_str(a, "json", NULL), *kern = args_str(a, "kernels", "int");
    const char *report = args_str(a, "report", NULL);
    long threads, pt, gt, rounds, bw_mib, seed;
    if (args_int(a, "threads", 0, 0, 1024, &threads, err) || args_int(a, "prompt-tokens", 128, 1, 1 << 16, &pt, err) ||
        args_int(a, "gen-tokens", 64, 1, 1 << 16, &gt, err) || args_int(a, "rounds", 3, 1, 1000, &rounds, err) ||
        args_int(a, "bw-mib", 1024, 64, 1 << 16, &bw_mib, err) || args_int(a, "seed", 0, 0, 2147483647L, &seed, err))
        return 2;
    if (args_finish(a, err)) return 2;
    if (!model) return qerr_set(err, "--model is required"), 2;
    if (strcmp(kern, "int") && strcmp(kern, "ref"))
        return qerr_set(err, "--kernels %s: expected int (integer kernels) or ref (dequantize, fp32)", kern), 2;
    if (threads > 0) qthreads_set((int)threads);
    int nth = qthreads_get();
    BwChild bwc;
    bw_child_start(&bwc, (size_t)bw_mib << 20, nth);
    LlmModel m;
    if (llm_load(&m, model, err)) {
        bw_child_stop(&bwc);
        return 1;
    }
    llm_kernels_set(&m, kern, err);
    char kdesc[256];
    llm_kernels_describe(&m, kdesc, sizeof kdesc);
    LlmBenchOpts o = {(int)pt, (int)gt, (int)rounds, (uint64_t)seed, bw_child_measure, &bwc};
    LlmBenchResult r;
    int failed = llm_bench(&m, &o, &r, err);
    bw_child_stop(&bwc);
    if (failed) {
        llm_bench_result_free(&r);
        llm_free(&m);
        return 1;
    }
    double rss = (double)qpeak_rss_bytes(), need = r.weight_bytes + r.kv_bytes + r.act_bytes;
    const double bw = r.bandwidth, bound = bw > 0 ? bw / r.bytes_per_token : 0;
    const double GiB = 1024.0 * 1024 * 1024;
    printf("model       %s (%lld parameters, %d layers, dim %d)\n", model, (long long)llm_n_params(&m), m.c.n_layers, m.c.dim);
    printf("kernels     %s\n", kdesc);
    printf("threads     %d\n", nth);
    printf("fp32 GEMM   %s\n", kern_gemm_choice()->why);
    printf("prompt      %d tokens: %.1f tokens/s (%.3f s, median of %ld)\n", o.prompt_tokens, r.prompt_tps, r.prompt_s, rounds);
    printf("decode      %d tokens: %.2f tokens/s (%.1f ms/token)\n", o.gen_tokens, r.decode_tps, 1e3 / r.decode_tps);
    printf("bandwidth   %.1f GB/s read (%ld MiB streamed, %d threads, before and after each decode; median of %ld)\n",
           bw / 1e9, bw_mib, nth, rounds);
    printf("decode bound %.2f tokens/s = bandwidth / %.1f MB read per token; reached %.0f%% (median of the rounds'",
           bound, r.bytes_per_token / 1e6, 100 * r.fraction);
    for (long i = 0; i < rounds; i++)
        printf(" %.0f%% [%.2f t/s, %.1f-%.1f GB/s]", 100 * r.round_fraction[i], r.round_decode_tps[i], r.round_bw_before[i] / 1e9,
               r.round_bw_after[i] / 1e9);
    puts(")");
    printf("decode split ms per token (GB/s of weights):");
    for (int k = 0; k < r.split_n; k++)
        printf(" %s %.2f (%.0f)%s", r.split_names[k], 1e3 * r.split_lin[k], r.split_lin_bytes[k] / r.split_lin[k] / 1e9,
               k + 1 < r.split_n ? "," : ";");
    printf(" int8 inputs %.2f; classifier %.2f (%.0f); rest %.2f (attention, norms, residuals); a step %.2f\n",
           1e3 * r.split_act, 1e3 * r.split_head, r.head_bytes / r.split_head / 1e9, 1e3 * r.split_rest,
           1e3 * r.split_step);
    printf("memory      peak RSS %.3f GiB; weights %.3f GiB (packed linears %.3f) + KV cache %.3f (%d positions) + "
           "activations %.3f = %.3f GiB; RSS / that = %.3f\n", rss / GiB, r.weight_bytes / GiB, r.packed_bytes / GiB,
           r.kv_bytes / GiB, r.context, r.act_bytes / GiB, need / GiB, rss / need);
    int rc = 0;
    if (json || report) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "command", "bench");
        cJSON_AddStringToObject(j, "model", model);
        cJSON_AddStringToObject(j, "kernels", kdesc);
        cJSON_AddNumberToObject(j, "threads", nth);
        cJSON_AddStringToObject(j, "fp32_gemm", kern_gemm_choice()->why);
        cJSON_AddNumberToObject(j, "prompt_tokens", o.prompt_tokens);
        cJSON_AddNumberToObject(j, "gen_tokens", o.gen_tokens);
        cJSON_AddNumberToObject(j, "prompt_tokens_per_s", r.prompt_tps);
        cJSON_AddNumberToObject(j, "decode_tokens_per_s", r.decode_tps);
        cJSON_AddNumberToObject(j, "read_bandwidth_bytes_per_s", bw);
        cJSON_AddNumberToObject(j, "bytes_per_token", r.bytes_per_token);
        cJSON_AddNumberToObject(j, "decode_bound_tokens_per_s", bound);
        cJSON_AddNumberToObject(j, "decode_fraction_of_bound", r.fraction);
        cJSON *rr = cJSON_AddArrayToObject(j, "decode_rounds");
        for (long i = 0; i < rounds; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "decode_tokens_per_s", r.round_decode_tps[i]);
            cJSON_AddNumberToObject(e, "bandwidth_before_bytes_per_s", r.round_bw_before[i]);
            cJSON_AddNumberToObject(e, "bandwidth_after_bytes_per_s", r.round_bw_after[i]);
            cJSON_AddNumberToObject(e, "fraction_of_bound", r.round_fraction[i]);
            cJSON_AddItemToArray(rr, e);
        }
        cJSON_AddNumberToObject(j, "peak_rss_bytes", rss);
        cJSON_AddNumberToObject(j, "weight_bytes", r.weight_bytes);
        cJSON_AddNumberToObject(j, "packed_bytes", r.packed_bytes);
        cJSON_AddNumberToObject(j, "classifier_bytes", r.head_bytes);
        cJSON_AddNumberToObject(j, "kv_bytes", r.kv_bytes);
        cJSON_AddNumberToObject(j, "activation_bytes", r.act_bytes);
        cJSON_AddNumberToObject(j, "rss_over_needed", rss / need);
        cJSON *split = cJSON_AddObjectToObject(j, "decode_split_s_per_token");
        for (int k = 0; k < r.split_n; k++) cJSON_AddNumberToObject(split, r.split_names[k], r.split_lin[k]);
        cJSON_AddNumberToObject(split, "int8_inputs", r.split_act);
        cJSON_AddNumberToObject(split, "classifier", r.split_head);
        cJSON_AddNumberToObject(split, "rest", r.split_rest);
        cJSON_AddNumberToObject(split, "step", r.split_step);
        /* the rows the report draws (docs/formats.md#results): one per model run */
        cJSON_AddNumberToObject(j, "bandwidth_gb_s", bw / 1e9);
        cJSON *rows = cJSON_AddArrayToObject(j, "rows"), *row = cJSON_CreateObject();
        const char *base = strrchr(model, '/');
        cJSON_AddStringToObject(row, "name", base ? base + 1 : model);
        cJSON_AddStringToObject(row, "kernel", kdesc);
        cJSON_AddNumberToObject(row, "weight_bytes", r.weight_bytes);
        cJSON_AddNumberToObject(row, "prompt_tokens_per_s", r.prompt_tps);
        cJSON_AddNumberToObject(row, "decode_tokens_per_s", r.decode_tps);
        cJSON_AddNumberToObject(row, "bound_tokens_per_s", bound);
        cJSON_AddNumberToObject(row, "peak_rss_bytes", rss);
        cJSON_AddItemToArray(rows, row);
        report_add_run_info(j, a->cmdline);
        if (json && qjson_write_file(json, j, err)) rc = 1;
        if (rc == 0 && report && report_write(report, &j, NULL, 1, NULL, NULL, err)) rc = 1;
        cJSON_Delete(j);
    }
    llm_bench_result_free(&r);
    llm_free(&m);
    return rc;
}
