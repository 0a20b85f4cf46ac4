/* llm_qfile.h — quantized language models on disk: a safetensors file whose
 * __metadata__ has format = "quant-llm", version = "1" (docs/formats.md#quant-llm).
 * The writer lives with the quantizer (src/llm/ptq/save.c); the reader is part of the
 * runtime: it loads the linears in their packed kind (KernQMat blocks, kernels.h) when the
 * scheme allows it (per channel, or groups of a multiple of 32), else dequantizes them into
 * fp32; embeddings, norms and the classifier are fp32. */
#ifndef QUANT_LLM_QFILE_H
#define QUANT_LLM_QFILE_H

#include "quant/llm.h"
#include "quant/qparams.h"
#include "quant/safetensors.h"

#define LLM_QFILE_FORMAT "quant-llm"
#define LLM_QFILE_VERSION "1"
/* A quantized untied classifier ("output.qweight/.scale", metadata head_bits > 0) is in
 * symmetric groups of this many inputs (Q8_0's blocks at 8 bits). */
#define LLM_QFILE_HEAD_GROUP 32

/* 1 when path is a safetensors file written by quant (checks the metadata), else 0. */
int llm_qfile_detect(const char *path);
/* Loads and dequantizes; every tensor, shape, dtype and size is checked. */
int llm_load_qfile(LlmModel *m, const char *path, QErr *err);
/* skip_linears: the quantized linears' fp32 weights are left unwritten (exporters take their
 * codes from llm_qfile_read_linear_codes instead; saves dequantizing every weight). */
int llm_load_qfile_ex(LlmModel *m, const char *path, int skip_linears, QErr *err);

/* The file's quantized tensors as integer codes [rows, cols] + QParams, without
 * dequantizing: what exporters map onto other formats.  fn is called for the token
 * embedding first (name "token_embd", layer = index = -1) when it is quantized, for an untied
 * classifier stored quantized (name "output", layer -1, index -2), then for
 * every linear of every block in llm_block_linears order (name "blk.<l>.<q|k|v|o|gate|up|down>",
 * index within the block); c is the file's configuration.  A non-zero return from fn stops
 * the walk and is returned.  Every tensor is checked as llm_load_qfile checks it. */
typedef int (*LlmQfileLinearFn)(void *ctx, const LlmConfig *c, const char *name, int layer, int index, const QParams *p,
                                const int8_t *codes, QErr *err);
int llm_qfile_read_linear_codes(const char *path, LlmQfileLinearFn fn, void *ctx, QErr *err);

/* The quantization scheme a file declares for its linears. */
typedef struct LlmQScheme {
    int bits;         /* 2..8 */
    int group;        /* columns per group; 0 = per output channel */
    int merge_tail;   /* a row's ragged remainder joins its last group */
    int symmetric;    /* 0: zero-points stored */
} LlmQScheme;
/* One linear "<base>" [rows, cols] of an open quant-llm file as integer codes and their
 * scheme: codes [rows * cols] (caller's buffer), p initialised here (free with
 * qparams_free): scales (f32 from the file's f16, finite and non-zero) and zero-points.
 * w = p.scale[k] * (code - p.zero[k]), k = qparams_index(p, r, c).  Every tensor's dtype and
 * size is checked.  This is what exporters (GGUF, GPTQ) read. */
int llm_qfile_linear_codes(const Safetensors *st, const char *path, const char *base, int64_t rows, int64_t cols,
                           const LlmQScheme *sc, int8_t *codes, QParams *p, QErr *err);

#endif
