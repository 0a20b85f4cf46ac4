/* export_source.c — an export source read from a model path (llm_gguf.h): the model and its
 * tokenizer through llm_open, and for quant's own quantized files the integer codes and
 * scales of every quantized tensor, read without dequantizing. */
#include <stdlib.h>
#include <string.h>

#include "quant/llm_gguf.h"
#include "quant/llm.h"
#include "quant/llm_open.h"
#include "quant/llm_qfile.h"

int llm_export_hold_open(LlmExportHold *h, const char *model, const char *tokenizer, QErr *err) {
    memset(h, 0, sizeof *h);
    /* quant's own files: the linears' codes are taken as they are, so their fp32 values are
     * not needed (dequantizing a 1B model would be most of the export's time) */
    int qfile = llm_qfile_detect(model);
    if (qfile ? llm_load_qfile_ex(&h->m, model, 1, err) : llm_load(&h->m, model, err)) return -1;
    if (llm_open_tokenizer(model, tokenizer, &h->m, &h->tok, err)) {
        llm_free(&h->m);
        return -1;
    }
    h->src.m = &h->m;
    h->src.tok = h->tok;
    const char *slash = strrchr(model, '/');
    h->src.name = slash ? slash + 1 : model;
    /* where llm_open found the tokenizer: the flag, the model directory, or beside the model file */
    if (tokenizer || qpath_is_dir(model)) {
        h->src.tok_path = tokenizer ? tokenizer : model;
    } else {
        snprintf(h->tok_dir, sizeof h->tok_dir, "%.*s", slash ? (int)(slash - model) : 1, slash ? model : ".");
        h->src.tok_path = h->tok_dir;
    }
    if (qfile) h->src.qfile = model;
    return 0;
}

void llm_export_hold_free(LlmExportHold *h) {
    tokenizer_free(h->tok);
    llm_free(&h->m);
    memset(h, 0, sizeof *h);
}
