/* cmd_export.c — `quant export`: a model (quant's quantized files keep their codes) as a GGUF
 * file for llama.cpp, with a line per tensor kind saying which GGUF type it went to and
 * whether that is exact. */
#include <string.h>

#include "cmd.h"
#include "quant/llm_gguf.h"
#include "quant/llm_gptq_dir.h"

static const char *usage =
    "usage: quant export --model M [--tokenizer T] --format gguf|gptq --out PATH [--f16] [--emb-f32]\n"
    "  gguf: one file for llama.cpp; gptq: a Hugging Face GPTQ-layout directory (transformers, AutoGPTQ, vLLM)\n"
    "  M: quant's quantized .safetensors (codes kept: 4-bit symmetric -> Q4_0, 8-bit -> Q8_0), a llama2.c .bin,\n"
    "     a Hugging Face directory or a GGUF file (fp32 tensors -> F32, or F16 with --f16)\n"
    "  --emb-f32: a quantized token embedding as its exact F32 values (llama.cpp then runs a tied classifier in fp32)\n";

int cmd_export(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    const char *model = args_str(a, "model", NULL), *tok = args_str(a, "tokenizer", NULL);
    const char *fmt = args_str(a, "format", "gguf"), *out = args_str(a, "out", NULL);
    LlmGgufOpts o = {0};
    if (args_bool(a, "f16", 0, &o.f16, err) || args_bool(a, "emb-f32", 0, &o.emb_f32, err) || args_finish(a, err)) return 2;
    if (!model || !out) return qerr_set(err, "--model and --out are required\n%s", usage), 2;
    if (strcmp(fmt, "gguf") != 0 && strcmp(fmt, "gptq") != 0) return qerr_set(err, "--format %s: expected gguf or gptq", fmt), 2;
    double t0 = qtime_now();
    LlmExportHold h;
    if (llm_export_hold_open(&h, model, tok, err)) return 1;
    LlmExportReport r;
    int rc = strcmp(fmt, "gguf") == 0 ? llm_export_gguf(&h.src, out, &o, &r, err) : llm_export_gptq(&h.src, out, &o, &r, err);
    llm_export_hold_free(&h);
    if (rc) return 1;
    const char *hdr[] = {"tensors", fmt[1] == 'g' ? "GGUF type" : "stored as", "count", "exact"};
    QTable t;
    qtable_init(&t, 4, hdr);
    qtable_align_right(&t, 2, 1);
    for (int i = 0; i < r.n_rows; i++) {
        qtable_new_row(&t);
        qtable_cell(&t, "%s", r.rows[i].kind);
        qtable_cell(&t, "%s", r.rows[i].type);
        qtable_cell(&t, "%d", r.rows[i].count);
        qtable_cell(&t, "%s", r.rows[i].exact ? "yes" : "no (rounded to float16)");
    }
    qtable_print(&t, stdout);
    qtable_free(&t);
    printf("padding      %s\n", r.padding[0] ? r.padding : "none");
    printf("wrote        %s: %d tensors, %llu bytes (%.2f s)\n", out, r.n_tensors, (unsigned long long)r.bytes,
           qtime_now() - t0);
    return 0;
}
