/* llm_stream.h — weight quantization of a model streamed block by block (src/llm/ptq/stream.c).
 *
 * The model is read through llm_source.h: weights stay memory-mapped in their file's dtype and
 * one block at a time is widened to fp32, quantized by the same code as the in-memory path
 * (llm_quantize_block), written to the output quant-llm file and dropped.  What is kept across
 * blocks: the norms, the embedding's and an untied classifier's codes (quantized from the file a
 * chunk of rows at a time; the embedding in fp32 too when GPTQ embeds windows), and for GPTQ the calibration activations at the
 * current block boundary (n x S x D floats; twice that with refit, which also needs the fp32
 * model's).  RTN reads no calibration at all; for a Llama from safetensors it never widens a
 * block either (stream_rtn.c: chunks of rows read from the file, quantized and packed in cache,
 * the file written with O_DIRECT where allowed).  The file is byte for byte what
 * llm_quantize_model + llm_save_quantized write for the same variant.
 * Peak memory: the shared fp32 tensors + one block in fp32 + its codes + the activations. */
#ifndef QUANT_LLM_STREAM_H
#define QUANT_LLM_STREAM_H

#include "quant/llm_eval.h"
#include "quant/llm_ptq.h"
#include "quant/llm_ptq_run.h"
#include "quant/llm_source.h"

typedef struct LlmStreamResult {
    double bpw;                  /* bits per linear weight incl. scales (llm_quantized_bits_per_weight) */
    int n_layers;
    double *block_err;           /* [n_layers] relative block error (-1: no fp32 stream kept) */
    double seconds;
    int64_t bytes;               /* the file written */
} LlmStreamResult;
void llm_stream_result_free(LlmStreamResult *r);

/* Whether a weight variant can be streamed: RTN or GPTQ (no AWQ scale search, which needs the
 * whole model's activations), no block or end-to-end tuning. */
int llm_stream_supported(const LlmWQuant *s);

/* Quantizes the model at `model` (Hugging Face directory or llama2.c file) with scheme s and
 * writes the quant-llm file `out_path` (temporary name, renamed at the end).  c: calibration
 * windows (GPTQ; NULL or c->n = 0 for RTN).  emb_bits as llm_quantize_model.  source: the
 * metadata's "source". */
int llm_quantize_stream(const char *model, const LlmCalib *c, const LlmWQuant *s, int emb_bits, const char *out_path,
                        const char *source, LlmStreamResult *r, QErr *err);

/* fp32 bytes the in-memory path would hold for the model at `model` (its weights widened),
 * from its configuration only; 0 when it cannot be told. */
int64_t llm_stream_fp32_bytes(const char *model);

/* Perplexity as llm_perplexity measures it (the same windows, the same numbers), with the
 * model streamed block by block: every window's activations [windows, S, D] are kept at the
 * block boundary instead of the model's weights.  m: llm_source_open's (embeddings unchanged). */
int llm_perplexity_stream(LlmSource *src, LlmModel *m, const Tokenizer *tok, const int32_t *tokens, int64_t n,
                          const LlmPplOpts *o, LlmPplResult *r, QErr *err);

/* ptq-llm (run.c): whether the whole plan can run streamed (1), with the reason either way. */
int llm_ptq_stream_plan(const LlmPtqOpts *o, char *why, size_t n);
/* ptq-llm's rows for a streamed model: fp32 by llm_perplexity_stream, each variant by
 * llm_quantize_stream then evaluated from its file loaded packed (llm_load_qfile). */
int llm_ptq_run_stream(const LlmPtqOpts *o, LlmSource *src, LlmModel *m, Tokenizer *tok, const int32_t *etok, int64_t eval_n,
                       const LlmPplOpts *ppl, const LlmCalib *calib, LlmPtqReport *r, QErr *err);

#endif
