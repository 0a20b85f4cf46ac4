/* cmd.h — the subcommands of the quant program, one file each (cmd_<name>.c).
 * Each returns the process exit status; errors are printed by main as
 * "quant: error: <msg>" from the QErr the command fills. */
#ifndef QUANT_TOOL_CMD_H
#define QUANT_TOOL_CMD_H

#include "args.h"

int cmd_basics(Args *a, QErr *err);    /* quantize a tensor, show scale/zero-point and error */
int cmd_ptq_nn(Args *a, QErr *err);    /* train fp32 MLP/CNN on Fashion-MNIST, PTQ, integer inference */
int cmd_eval_nn(Args *a, QErr *err);   /* reload a saved .qnn model and measure its accuracy */
int cmd_qat(Args *a, QErr *err);       /* quantization-aware training (STE, LSQ) */
int cmd_eval(Args *a, QErr *err);      /* LLM perplexity */
int cmd_generate(Args *a, QErr *err);  /* LLM text generation */
int cmd_ptq_llm(Args *a, QErr *err);   /* LLM post-training quantization (RTN, GPTQ, W8A8, ...) */
int cmd_tokenize(Args *a, QErr *err);  /* token ids of a text */
int cmd_download(Args *a, QErr *err);  /* a model from the Hugging Face Hub into its cache */
int cmd_report(Args *a, QErr *err);    /* an HTML report rebuilt from saved --json results */
int cmd_export(Args *a, QErr *err);    /* a model as a GGUF file (llama.cpp) */
int cmd_bench(Args *a, QErr *err);     /* LLM prompt/decode speed against the measured bandwidth bound */

#endif
