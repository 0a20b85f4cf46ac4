/* llm_gptq_dir.h — the Hugging Face "GPTQ" checkpoint layout (what transformers/optimum,
 * AutoGPTQ and vLLM load): a model directory whose config.json carries
 * quantization_config {quant_method "gptq", bits, group_size, desc_act, sym,
 * checkpoint_format "gptq"} and whose safetensors hold, per quantized linear W [out, in]:
 *   qweight  I32 [in / (32/bits), out]  codes u = q + 2^(bits-1), 32/bits of them per int32 along
 *                                      the input dimension (input i in bits (i mod k)*bits..)
 *   qzeros   I32 [groups, out / (32/bits)]  zero-points packed along the output dimension,
 *                                      stored minus one ("gptq" v1 format: 2^(bits-1) - 1 for
 *                                      symmetric codes; "gptq_v2" stores them as they are)
 *   scales   F16 [groups, out]
 *   g_idx    I32 [in]                  the group of each input (desc_act / act-order may permute)
 *   W[j, i] = scales[g_idx[i], j] * (u[j, i] - (zero[g_idx[i], j] + 1))
 * groups = ceil(in / group_size) (1 with group_size -1).  Other tensors are stored fp32 (F16
 * with --f16) under the Hugging Face names (llm_hf.c).
 *
 * quant writes its own codes and float16 scales unchanged (exact): groups of g = group_size
 * (a merged ragged tail group repeats its scale in the extra group, as in GGUF), a hidden
 * width that is not a multiple of 32 padded with zero rows/columns, llama2.c's interleaved
 * rotary rows permuted to Hugging Face's halves.  quant reads such directories back through
 * llm_load_hf, dequantizing with g_idx. */
#ifndef QUANT_LLM_GPTQ_DIR_H
#define QUANT_LLM_GPTQ_DIR_H

#include "quant/llm_gguf.h"
#include "quant/safetensors.h"

typedef struct GptqLayout {
    int bits;            /* 0: the model is not GPTQ-quantized */
    int group_size;      /* -1: per output channel */
    int desc_act;
    int v2;              /* checkpoint_format gptq_v2: zeros stored as they are */
} GptqLayout;

/* quantization_config of config.json (q->bits = 0 when absent); -1 + err when present but
 * not a GPTQ configuration quant reads (bits 2, 4 or 8). */
int gptq_layout_read(const char *config_path, GptqLayout *q, QErr *err);
/* Dequantizes "<base>.qweight/.qzeros/.scales/.g_idx" of a [out, in] linear into w [out, in];
 * every shape, dtype, group index and scale checked. */
int gptq_linear_read(const Safetensors *st, const char *dir, const char *base, int64_t out, int64_t in,
                     const GptqLayout *q, float *w, QErr *err);

/* The export source as a GPTQ-layout directory (config.json, model.safetensors, the
 * tokenizer: vocab.json + merges.txt for GPT-2 vocabularies, tok<V>.bin for llama2.c ones). */
int llm_export_gptq(const LlmExportSource *s, const char *dir, const LlmGgufOpts *o, LlmExportReport *r, QErr *err);

#endif
