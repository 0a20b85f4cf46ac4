/* llm_open.h — the model + tokenizer pair the commands work on. */
#ifndef QUANT_LLM_OPEN_H
#define QUANT_LLM_OPEN_H

#include "quant/llm.h"
#include "quant/tokenizer.h"

/* Loads the model at model_path and its tokenizer: tok_path, or when NULL the model
 * directory's own (Hugging Face), else beside the model tok<vocab>.bin / tokenizer.bin
 * (llama2.c) or tokenizer.json / vocab.json + merges.txt (a quantized Hugging Face model). */
int llm_open(const char *model_path, const char *tok_path, LlmModel *m, Tokenizer **tok, QErr *err);
/* The tokenizer part of llm_open, for a model already loaded from model_path. */
int llm_open_tokenizer(const char *model_path, const char *tok_path, const LlmModel *m, Tokenizer **tok, QErr *err);
/* A Hugging Face tokenizer path: a directory (tokenizer.json, or vocab.json + merges.txt) or a
 * .json file; anything else is a llama2.c tokenizer.bin. */
int llm_tokenizer_is_hf(const char *path);

#endif
