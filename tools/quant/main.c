/* main.c — the quant program: picks the subcommand, parses its flags, prints errors.
 * No algorithm lives here or in cmd_*.c beyond flag handling and calling libquant. */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

typedef struct Command {
    const char *name;
    int (*run)(Args *a, QErr *err);
    const char *help;
} Command;

static const Command commands[] = {
    {"basics", cmd_basics, "quantize a tensor: scale, zero-point, levels and the error by bits/granularity"},
    {"ptq-nn", cmd_ptq_nn, "train an MLP/CNN on Fashion-MNIST, quantize it after training, run it in integers"},
    {"eval-nn", cmd_eval_nn, "reload a saved network (.qnn) and measure its test accuracy"},
    {"qat", cmd_qat, "quantization-aware training (straight-through estimator, optional LSQ)"},
    {"eval", cmd_eval, "perplexity of a language model on a text"},
    {"generate", cmd_generate, "generate text with a language model"},
    {"download", cmd_download, "fetch a model from the Hugging Face Hub into its cache (or find it there)"},
    {"tokenize", cmd_tokenize, "token ids of a text (llama2.c, GPT-2 and Llama tokenizers)"},
    {"export", cmd_export, "a model as a GGUF file for llama.cpp (quantized codes kept exactly: Q4_0, Q8_0)"},
    {"bench", cmd_bench, "prompt and decode speed of a language model, the bandwidth bound, peak memory"},
    {"ptq-llm", cmd_ptq_llm, "quantize a language model after training (RTN, GPTQ, W8A8) and measure perplexity"},
    {"report", cmd_report, "an HTML report with plots from saved --json results (several runs side by side)"},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *f) {
    fprintf(f, "usage: quant <command> [flags]\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nFlags take --name=value or --name value; '_' and '-' are interchangeable.\n"
               "'quant <command> --help' lists a command's flags.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const Command *cmd = NULL;
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "quant: error: unknown command '%s' (see 'quant help')\n", argv[1]);
        return 2;
    }
    QErr err = {{0}};
    Args a;
    if (args_parse(&a, argc - 1, argv + 1, &err) != 0) {
        fprintf(stderr, "quant: error: %s\n", err.msg);
        args_free(&a);
        return 2;
    }
    int rc = cmd->run(&a, &err);
    if (rc != 0 && err.msg[0]) fprintf(stderr, "quant: error: %s\n", err.msg);
    args_free(&a);
    return rc;
}
