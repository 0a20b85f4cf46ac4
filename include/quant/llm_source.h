/* llm_source.h — a model read one block at a time (the streamed quantizer's view).
 *
 * Opening reads the configuration, checks every tensor's name, shape and dtype, and widens
 * only what every block shares into fp32 (token and position embeddings, final norm, head);
 * the blocks stay memory-mapped in their file's dtype (F16 / BF16 / F32, sharded or not) until
 * llm_source_block widens one into a caller's buffer, and llm_source_release drops its mapped
 * pages again.  Hugging Face directories and llama2.c checkpoints. */
#ifndef QUANT_LLM_SOURCE_H
#define QUANT_LLM_SOURCE_H

#include "quant/llm.h"
#include "quant/safetensors.h"

typedef struct LlmSource LlmSource;

/* m: config, tok_emb, pos_emb, final_norm(_b), head in fp32 (owned by m), layers[] zeroed.
 * Close with llm_source_close (which frees m too). */
int    llm_source_open(LlmSource **src, LlmModel *m, const char *path, QErr *err);
/* The same; with shared_lazy, a Llama's token embedding and head are checked but left in the
 * file (m->tok_emb = m->head = NULL): llm_source_rows widens rows of them when needed. */
int    llm_source_open_ex(LlmSource **src, LlmModel *m, const char *path, int shared_lazy, QErr *err);
/* Rows [row0, row0 + nrows) of the token embedding (head = 0) or the head (1) into dst
 * [nrows, D]; works whether or not they were widened at open. */
int    llm_source_rows(LlmSource *src, const LlmModel *m, int head, int64_t row0, int64_t nrows, float *dst, QErr *err);
/* Floats of one block's fp32 weights: the size of llm_source_block's buffer. */
size_t llm_source_block_floats(const LlmConfig *c);
/* Block `layer` widened into buf and m->layers[layer] pointed at it (non-finite weights are
 * refused here, naming the tensor). */
int    llm_source_block(LlmSource *src, LlmModel *m, int layer, float *buf, QErr *err);
/* Done with block `layer`: its mapped pages dropped, m->layers[layer] cleared. */
void   llm_source_release(LlmSource *src, LlmModel *m, int layer);
void   llm_source_close(LlmSource *src, LlmModel *m);
/* A tensor as its file stores it, for readers that widen a few rows at a time themselves
 * (stream_rtn.c): part "embed", "head" (layer ignored), or block `layer`'s "attn_norm",
 * "ffn_norm", "q", "k", "v", "o", "gate", "up", "down".  *v's data points into the mapped file
 * (F32 / F16 / BF16, [out, in] as the model uses it; checked at open).  1: this source cannot
 * give one (llama2.c checkpoints, GPT-2's transposed Conv1D weights, GPTQ directories). */
int    llm_source_view(LlmSource *src, const LlmModel *m, int layer, const char *part, StTensor *v);
/* The file holding a view's bytes and their offset in it (to read them with pread instead of
 * through the map), or NULL. */
const char *llm_source_view_file(LlmSource *src, const StTensor *v, int64_t *offset);

/* The Hugging Face side (llm_hf.c), used by llm_source.c. */
typedef struct LlmHfLazy LlmHfLazy;
int    llm_hf_lazy_open(LlmHfLazy **z, LlmModel *m, const char *dir, int shared_lazy, QErr *err);
int    llm_hf_lazy_rows(LlmHfLazy *z, const LlmModel *m, int head, int64_t row0, int64_t nrows, float *dst, QErr *err);
size_t llm_hf_lazy_block_floats(const LlmConfig *c);
int    llm_hf_lazy_block(LlmHfLazy *z, LlmModel *m, int layer, float *buf, QErr *err);
void   llm_hf_lazy_release(LlmHfLazy *z);
int    llm_hf_lazy_view(LlmHfLazy *z, const LlmModel *m, int layer, const char *part, StTensor *v);
const char *llm_hf_lazy_file(LlmHfLazy *z, const StTensor *v, int64_t *offset);
void   llm_hf_lazy_close(LlmHfLazy *z);

#endif
