/* llm_qfile.h — quantized language models on disk: a safetensors file whose
 * __metadata__ has format = "quant-llm", version = "1" (docs/formats.md#quant-llm).
 * The writer lives with the quantizer (src/llm/ptq/save.c); the reader is part of the
 * runtime, which dequantizes the weights into an fp32 LlmModel on load. */
#ifndef QUANT_LLM_QFILE_H
#define QUANT_LLM_QFILE_H

#include "quant/llm.h"

#define LLM_QFILE_FORMAT "quant-llm"
#define LLM_QFILE_VERSION "1"

/* 1 when path is a safetensors file written by quant (checks the metadata), else 0. */
int llm_qfile_detect(const char *path);
/* Loads and dequantizes; every tensor, shape, dtype and size is checked. */
int llm_load_qfile(LlmModel *m, const char *path, QErr *err);

#endif
