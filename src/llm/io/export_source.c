/* export_source.c — an export source read from a model path (llm_gguf.h): the model and its
 * tokenizer through llm_open, and for quant's own quantized files the integer codes and
 * scales of every quantized tensor, read without dequantizing. */
#include <stdlib.h>
#include <string.h>

#include "quant/llm_gguf.h"
#include "quant/llm.h"
#include "quant/llm_open.h"
#include "quant/llm_qfile.h"

static int keep(void *ctx, const LlmConfig *c, const char *name, int layer, int index, const QParams *p, const int8_t *codes,
                QErr *err) {
    LlmExportCodes *h = ctx;
    if (c->n_layers != h->src.m->c.n_layers || c->dim != h->src.m->c.dim || index >= LLM_MAX_LINEARS || layer >= c->n_layers)
        return qerr_set(err, "%s: the file's codes disagree with its model", name);
    int slot = layer < 0 ? h->n + (index == -2) : layer * LLM_MAX_LINEARS + index; /* -2: the classifier */
    qparams_copy(&h->params[slot], p);
    size_t n = (size_t)(p->rows * p->cols);
    h->codes[slot] = xmalloc(n);
    memcpy(h->codes[slot], codes, n);
    LlmQView v = {&h->params[slot], h->codes[slot]};
    if (layer < 0 && index == -2) h->src.head = v;
    else if (layer < 0) h->src.emb = v;
    else h->lin[slot] = v;
    return 0;
}

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

int llm_export_codes_load(LlmExportCodes *h, const LlmExportSource *src, QErr *err) {
    memset(h, 0, sizeof *h);
    h->src = *src;
    if (!src->qfile || src->lin) return 0;
    /* slots: every linear of every block, then the embedding and the classifier */
    h->n = src->m->c.n_layers * LLM_MAX_LINEARS;
    h->lin = xcalloc((size_t)h->n, sizeof *h->lin);
    h->params = xcalloc((size_t)h->n + 2, sizeof *h->params);
    h->codes = xcalloc((size_t)h->n + 2, sizeof *h->codes);
    h->src.lin = h->lin;
    if (llm_qfile_read_linear_codes(src->qfile, keep, h, err)) {
        llm_export_codes_free(h);
        return -1;
    }
    return 0;
}

void llm_export_codes_free(LlmExportCodes *h) {
    for (int i = 0; h->params && i <= h->n + 1; i++) {
        if (h->params[i].scale) qparams_free(&h->params[i]);
        free(h->codes[i]);
    }
    free(h->params);
    free(h->codes);
    free(h->lin);
    memset(h, 0, sizeof *h);
}

void llm_export_hold_free(LlmExportHold *h) {
    tokenizer_free(h->tok);
    llm_free(&h->m);
    memset(h, 0, sizeof *h);
}
