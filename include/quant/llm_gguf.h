/* llm_gguf.h — quant's language models as GGUF files (llama.cpp's format) and back.
 *
 * Export maps every tensor onto a GGUF type and says whether the mapping is exact:
 *   - quantized linears, symmetric, codes in -8..7 (2, 3, 4 bits)    -> Q4_0 (code + 8 in the nibble)
 *   - quantized linears, symmetric, codes in -127..127 (5..8 bits)   -> Q8_0
 *     (both need every 32-wide block of a row inside one scale unit: groups of 32 or a multiple,
 *     a merged ragged tail, or per channel; and float16 scales)
 *   - fp32 weight matrices -> F32 (exact) or F16 (--f16); norms and biases -> F32
 *   - a hidden width F that is not a multiple of 32 (stories260K: 172) is padded to the next
 *     multiple with zero rows of gate/up and zero columns of down: the padded units output 0
 *     and contribute 0, so the model computes the same function.
 * Anything else is refused with an error that says what would have to change.
 * Llama models whose rotary embedding rotates halves (Hugging Face) get their Q/K rows
 * permuted to llama.cpp's interleaved pairs (an exact row permutation).
 *
 * Import reads llama and gpt2 GGUF files (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 tensors), widens
 * them to fp32, and the tokenizer from tokenizer.ggml.*. */
#ifndef QUANT_LLM_GGUF_H
#define QUANT_LLM_GGUF_H

#include "quant/gguf.h"
#include "quant/llm.h"
#include "quant/qparams.h"
#include "quant/tokenizer.h"

/* A quantized tensor: codes [rows, cols] with their scales (NULL p: the tensor is fp32). */
typedef struct LlmQView {
    const QParams *p;
    const int8_t *codes;
} LlmQView;

/* What is exported: the model (fp32 weights for everything not quantized, configuration),
 * its tokenizer, and the quantized tensors: either in memory (lin[l * LLM_MAX_LINEARS + k] in
 * llm_block_linears order, emb; NULL lin: none) or read one at a time from quant's file qfile
 * (llm_qfile_read_linear_codes; lin NULL then), so that an export holds one tensor's codes. */
typedef struct LlmExportSource {
    const LlmModel *m;
    const Tokenizer *tok;
    const LlmQView *lin;
    LlmQView emb;
    const char *name;
    const char *tok_path;   /* where the tokenizer came from (a tokenizer.json is copied from there
                               when the vocabulary has no GGUF description); may be NULL */
    const char *qfile;
    LlmQView head;          /* an untied classifier's codes in memory (quant files with head_bits), else {0} */
} LlmExportSource;

/* One line of the export summary: how many tensors of a kind went to which type. */
typedef struct LlmExportRow {
    char kind[24];
    char type[8];
    int count;
    int exact;
} LlmExportRow;
typedef struct LlmExportReport {
    LlmExportRow rows[48];
    int n_rows;
    int n_tensors;
    char padding[200];   /* "" when nothing was padded */
    uint64_t bytes;
} LlmExportReport;

typedef struct LlmGgufOpts {
    int f16;             /* fp32 weight matrices as F16 (norms and biases stay F32) */
    int emb_f32;         /* a quantized token embedding stored as its dequantized values in F32
                            (exact): llama.cpp then runs the tied classifier in fp32 instead of
                            quantizing the last hidden state to 8 bits */
} LlmGgufOpts;

int llm_export_gguf(const LlmExportSource *src, const char *path, const LlmGgufOpts *o, LlmExportReport *r, QErr *err);

/* An export source read from a model file: quant's quantized files give their codes
 * (src.qfile, read as the exporter walks them); every other model is fp32. */
typedef struct LlmExportHold {
    LlmModel m;
    Tokenizer *tok;
    char tok_dir[4096];
    LlmExportSource src;
} LlmExportHold;
int  llm_export_hold_open(LlmExportHold *h, const char *model, const char *tokenizer, QErr *err);
/* Every quantized tensor of s once, in the order quant's file holds them: the embedding (slot
 * llm_export_emb_slot), an untied classifier (that + 1), then the blocks' linears (slot
 * layer * LLM_MAX_LINEARS + index, llm_block_linears' order); read from s->qfile a tensor at a
 * time when the source holds no codes (s->lin NULL), else from its arrays.  A file whose codes
 * disagree with s->m's configuration is refused, naming the file and the tensor. */
typedef int (*LlmExportSlotFn)(void *ctx, int slot, const char *name, const QParams *p, const int8_t *codes);
int llm_export_walk(const LlmExportSource *s, LlmExportSlotFn fn, void *ctx, QErr *err);
static inline int llm_export_emb_slot(const LlmConfig *c) { return c->n_layers * LLM_MAX_LINEARS; }
void llm_export_hold_free(LlmExportHold *h);


/* GGUF -> LlmModel (llm_load calls this for files with the GGUF magic): Q4_0, Q8_0, Q4_K and
 * Q6_K linears, and an untied classifier and embedding of those types beside them, packed for
 * the integer kernels (Q4_0 / Q8_0 in sb16 where this CPU's kernels read it); every other
 * tensor widened to fp32.
 * *quantized is set to 1 when any tensor was stored in a quantized type. */
int llm_load_gguf(LlmModel *m, const char *path, int *quantized, QErr *err);
/* The same with every tensor widened to fp32 (exporters, ptq-llm: they need the weights). */
int llm_load_gguf_fp32(LlmModel *m, const char *path, int *quantized, QErr *err);
/* Tensors of a GGUF file stored in a quantized type (0 for fp files and non-GGUF paths);
 * *types lists them ("Q4_0 x35, Q8_0 x1"). */
int llm_gguf_quantized_tensors(const char *path, char *types, size_t n);
/* The tokenizer in a GGUF file's metadata. */
int tokenizer_load_gguf(Tokenizer **t, const char *path, QErr *err);

#endif
