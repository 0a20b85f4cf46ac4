/* cmd_generate.c — `quant generate`: sample text from a language model, streamed. */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "model_arg.h"
#include "quant/llm_eval.h"
#include "quant/llm_open.h"

int cmd_generate(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        puts("usage: quant generate --model FILE|DIR [--model_name NAME [--revision R]] [--tokenizer FILE] [--prompt TEXT] [-n 100] [--temp 0]\n"
             "                      [--top-p 0.9] [--seed 1] [--threads N] [--kernels int|ref]");
        return 0;
    }
    const char *model, *tokp = args_str(a, "tokenizer", NULL);
    ModelArg ma;
    model_arg_read(a, &ma);
    const char *prompt = args_str(a, "prompt", ""), *kern = args_str(a, "kernels", "int");
    long n, seed, threads;
    double temp, top_p;
    if (args_int(a, "n", 256, 0, 1 << 20, &n, err) || args_int(a, "seed", 1, 0, 2147483647L, &seed, err) ||
        args_double(a, "temp", 0.0, 0.0, 100.0, &temp, err) || args_double(a, "top-p", 1.0, 0.0, 1.0, &top_p, err) ||
        args_int(a, "threads", 0, 0, 1024, &threads, err))
        return 2;
    /* "-n 100" arrives as two positional words */
    if (a->npos == 2 && strcmp(a->pos[0], "-n") == 0) {
        char *end;
        n = strtol(a->pos[1], &end, 10);
        if (*end || n < 0) return qerr_set(err, "-n: '%s' is not a token count", a->pos[1]), 2;
        a->npos = 0;
        free(a->pos[0]);
        free(a->pos[1]);
    }
    if (args_finish(a, err)) return 2;
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
    char kdesc[256];
    llm_kernels_describe(&m, kdesc, sizeof kdesc);
    fprintf(stderr, "[kernels: %s]\n", kdesc);
    LlmSampler s = {(float)temp, (float)top_p, {0}};
    qrng_seed(&s.rng, (uint64_t)seed);
    char *text = NULL;
    double tps = 0;
    int rc = llm_generate(&m, tok, prompt, (int)n, &s, stdout, &text, &tps, err);
    if (rc == 0) {
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "[%.0f tokens/s]\n", tps);
    }
    free(text);
    tokenizer_free(tok);
    llm_free(&m);
    model_arg_free(&ma);
    return rc ? 1 : 0;
}
