/* llm_open.h — the model + tokenizer pair the commands work on. */
#ifndef QUANT_LLM_OPEN_H
#define QUANT_LLM_OPEN_H

#include "quant/llm.h"
#include "quant/tokenizer.h"

/* Loads the model at model_path and its tokenizer (tok_path, or the llama2.c convention of
 * tok<vocab>.bin / tokenizer.bin beside the model when NULL). */
int llm_open(const char *model_path, const char *tok_path, LlmModel *m, Tokenizer **tok, QErr *err);

#endif
