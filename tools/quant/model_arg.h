/* model_arg.h — --model / --model_name handling shared by eval, generate and ptq-llm. */
#ifndef QUANT_TOOL_MODEL_ARG_H
#define QUANT_TOOL_MODEL_ARG_H

#include "args.h"

typedef struct ModelArg {
    const char *model, *name, *revision;
    char *owned;   /* the resolved directory when --model_name was used */
} ModelArg;

/* Reads the flags (call before args_finish). */
void model_arg_read(Args *a, ModelArg *m);
/* The path to load: --model, or --model_name resolved like Hugging Face tools do (a local
 * directory, the HF cache, or a download). Call after the other flags were validated. */
int  model_arg_resolve(ModelArg *m, const char **path, QErr *err);
void model_arg_free(ModelArg *m);

#endif
