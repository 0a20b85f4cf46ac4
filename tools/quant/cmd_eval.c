/* cmd_eval.c — `quant eval`: perplexity of a language model on a text file. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "model_arg.h"
#include "quant/kernels.h"
#include "quant/llm_eval.h"
#include "quant/llm_open.h"

int cmd_eval(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        puts("usage: quant eval --model FILE|DIR [--model_name NAME [--revision R]] [--tokenizer FILE] --text FILE [--seq-len 256]\n"
             "                  [--stride N] [--ppl-protocol windows|llama.cpp|all] [--max-windows N] [--threads N]\n"
             "                  [--kernels int|ref] [--json FILE]\n"
             "  --kernels: packed (quantized) linears run on the integer kernels (default) or the reference\n"
             "             path (dequantize to fp32, then the fp32 product: the numbers ptq-llm printed)\n"
             "  windows (alias gptq): non-overlapping windows, every prediction scored (GPTQ/SmoothQuant protocol)\n"
             "  llama.cpp: as llama-perplexity (BOS-led chunks, second half scored); all: both");
        return 0;
    }
    const char *model, *tokp = args_str(a, "tokenizer", NULL);
    ModelArg ma;
    model_arg_read(a, &ma);
    const char *text_path = args_str(a, "text", NULL), *json = args_str(a, "json", NULL);
    const char *proto = args_str(a, "ppl-protocol", "windows"), *kern = args_str(a, "kernels", "int");
    long seq, stride, maxw, threads;
    if (args_int(a, "seq-len", 256, 2, 1 << 20, &seq, err) || args_int(a, "stride", 0, 0, 1 << 20, &stride, err) ||
        args_int(a, "max-windows", 0, 0, 1L << 40, &maxw, err) || args_int(a, "threads", 0, 0, 1024, &threads, err))
        return 2;
    if (args_finish(a, err)) return 2;
    if (!text_path) return qerr_set(err, "--text FILE is required"), 2;
    LlmPplProtocol protos[2];
    int nproto = 0;
    if (strcmp(proto, "windows") == 0 || strcmp(proto, "gptq") == 0 || strcmp(proto, "all") == 0)
        protos[nproto++] = LLM_PPL_WINDOWS;
    if (strcmp(proto, "llama.cpp") == 0 || strcmp(proto, "llamacpp") == 0 || strcmp(proto, "all") == 0)
        protos[nproto++] = LLM_PPL_LLAMACPP;
    if (nproto == 0)
        return qerr_set(err, "--ppl-protocol %s: expected windows (alias gptq), llama.cpp or all", proto), 2;
    if (strcmp(kern, "int") && strcmp(kern, "ref"))
        return qerr_set(err, "--kernels %s: expected int (integer kernels) or ref (dequantize, fp32)", kern), 2;
    if (threads > 0) qthreads_set((int)threads);
    LlmModel m;
    Tokenizer *tok;
    if (model_arg_resolve(&ma, &model, err) || llm_open(model, tokp, &m, &tok, err)) {
        model_arg_free(&ma);
        return 1;
    }
    llm_kernels_set(&m, kern, err);
    uint8_t *text;
    size_t len;
    int rc = 1;
    char kdesc[256];
    llm_kernels_describe(&m, kdesc, sizeof kdesc);
    if (qfile_read_all(text_path, &text, &len, err)) goto out;
    int32_t *ids;
    int64_t n;
    double t0 = qtime_now();
    if (tokenizer_encode(tok, (const char *)text, len, tok->add_bos, &ids, &n, err)) {
        free(text);
        goto out;
    }
    double tok_s = qtime_now() - t0;
    printf("model      %s (%s, %lld parameters)\n", model, m.c.arch == LLM_ARCH_GPT2 ? "gpt2" : "llama",
           (long long)llm_n_params(&m));
    printf("kernels    %s\n", kdesc);
    printf("fp32 GEMM  %s\n", kern_gemm_choice()->why);
    printf("text       %s: %zu bytes, %lld tokens (tokenized in %.2f s)\n", text_path, len, (long long)n, tok_s);
    cJSON *root = cJSON_CreateObject(), *results = NULL;
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "text", text_path);
    cJSON_AddStringToObject(root, "tokenizer", tok->vt->kind);
    cJSON_AddStringToObject(root, "kernels", kdesc);
    cJSON_AddStringToObject(root, "fp32_gemm", kern_gemm_choice()->why);
    cJSON_AddNumberToObject(root, "text_tokens", (double)n);
    cJSON_AddNumberToObject(root, "seq_len", (double)seq);
    if (nproto > 1) results = cJSON_AddArrayToObject(root, "results");
    rc = 0;
    for (int k = 0; k < nproto && rc == 0; k++) {
        LlmPplOpts o = {protos[k], (int)seq, (int)stride, maxw, 0};
        LlmPplResult r;
        if (llm_perplexity(&m, tok, ids, n, &o, NULL, NULL, &r, err)) {
            rc = 1;
            break;
        }
        char desc[512];
        llm_ppl_describe(&o, tok, desc, sizeof desc);
        if (k) printf("\n");
        printf("protocol   %s\n", desc);
        printf("scored     %lld tokens in %lld windows\n", (long long)r.tokens_scored, (long long)r.windows);
        printf("perplexity %.4f  (mean NLL %.5f nats/token)\n", r.ppl, r.mean_nll);
        printf("speed      %.0f tokens/s (%.2f s)\n", r.tokens_per_second, r.seconds);
        cJSON *o_js = results ? cJSON_CreateObject() : root;
        cJSON_AddStringToObject(o_js, "protocol", desc);
        cJSON_AddStringToObject(o_js, "protocol_name", protos[k] == LLM_PPL_LLAMACPP ? "llama.cpp" : "windows");
        cJSON_AddNumberToObject(o_js, "stride", (double)(stride > 0 ? stride : seq));
        cJSON_AddNumberToObject(o_js, "perplexity", r.ppl);
        cJSON_AddNumberToObject(o_js, "mean_nll", r.mean_nll);
        cJSON_AddNumberToObject(o_js, "tokens_scored", (double)r.tokens_scored);
        cJSON_AddNumberToObject(o_js, "windows", (double)r.windows);
        cJSON_AddNumberToObject(o_js, "tokens_per_second", r.tokens_per_second);
        if (results) cJSON_AddItemToArray(results, o_js);
    }
    if (rc == 0 && json) rc = qjson_write_file(json, root, err) ? 1 : 0;
    cJSON_Delete(root);
    free(ids);
    free(text);
out:
    tokenizer_free(tok);
    llm_free(&m);
    model_arg_free(&ma);
    return rc;
}
