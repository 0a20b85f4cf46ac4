/* args.h — flag parsing for the quant subcommands.
 *
 * Accepted spellings (the original Python tool used underscores):
 *   --calib_samples=200   --calib-samples 200   --calib-samples=200
 * Names are normalised ('_' -> '-') before lookup.  A flag followed by another flag (or
 * by nothing) is a bare boolean ("true").  Booleans accept True/False, true/false, 1/0,
 * yes/no.  Every flag given must be consumed by the command: args_finish() reports the
 * first unknown one, so typos are errors rather than silently ignored. */
#ifndef QUANT_TOOL_ARGS_H
#define QUANT_TOOL_ARGS_H

#include "quant/core.h"

typedef struct Args {
    int n;
    char **names;     /* normalised, without leading dashes */
    char **values;    /* "true" for bare flags */
    int *used;
    int npos;
    char **pos;       /* positional arguments */
    char *cmdline;    /* "quant CMD ARGS..." as given (shell-quoted), for reports */
} Args;

/* argv[0] is the subcommand name (skipped). Returns -1 on a malformed argument. */
int  args_parse(Args *a, int argc, char **argv, QErr *err);
void args_free(Args *a);

int         args_has(Args *a, const char *name);
const char *args_str(Args *a, const char *name, const char *def);
/* Numbers: -1 with err set when the value does not parse or lies outside [lo, hi]. */
int args_int(Args *a, const char *name, long def, long lo, long hi, long *out, QErr *err);
int args_double(Args *a, const char *name, double def, double lo, double hi, double *out, QErr *err);
/* Boolean: True/False/1/0/yes/no/on/off. */
int args_bool(Args *a, const char *name, int def, int *out, QErr *err);
/* Comma-separated integer list ("8,4,2"), each value in [lo, hi]; *out is malloc'ed. */
int args_int_list(Args *a, const char *name, const char *def, long lo, long hi, long **out, int *count, QErr *err);
/* Comma-separated string list; *out (and each string) malloc'ed; free with args_free_list. */
int  args_str_list(Args *a, const char *name, const char *def, char ***out, int *count, QErr *err);
void args_free_list(char **list, int count);
/* Error if any flag was not consumed (names the first), or unexpected positionals. */
int args_finish(Args *a, QErr *err);

#endif
