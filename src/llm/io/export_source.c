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
    /* a GGUF's tensors widened (the exporters read fp32 weights where there are no codes) */
    if (qfile ? llm_load_qfile_ex(&h->m, model, 1, err) : llm_load_fp32(&h->m, model, err)) return -1;
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

typedef struct Walk {
    const LlmExportSource *s;
    LlmExportSlotFn fn;
    void *ctx;
} Walk;

static int walk_file_fn(void *ctx, const LlmConfig *c, const char *name, int layer, int index, const QParams *p,
                        const int8_t *codes, QErr *err) {
    const Walk *w = ctx;
    const LlmConfig *mc = &w->s->m->c;
    const int known = layer >= 0 ? index >= 0 && index < LLM_MAX_LINEARS && layer < mc->n_layers
                                 : !strcmp(name, "token_embd") || (!strcmp(name, "output") && index == -2 && !mc->shared_head);
    if (c->n_layers != mc->n_layers || c->dim != mc->dim || c->hidden_dim != mc->hidden_dim || !known)
        return qerr_set(err, "%s: %s: the file's codes disagree with its model (or a tensor the exporters do not know)",
                        w->s->qfile, name);
    const int emb = llm_export_emb_slot(mc);
    return w->fn(w->ctx, layer >= 0 ? layer * LLM_MAX_LINEARS + index : index == -2 ? emb + 1 : emb, name, p, codes);
}

int llm_export_walk(const LlmExportSource *s, LlmExportSlotFn fn, void *ctx, QErr *err) {
    if (s->qfile && !s->lin) {
        Walk w = {s, fn, ctx};
        return llm_qfile_read_linear_codes(s->qfile, walk_file_fn, &w, err);
    }
    const int emb = llm_export_emb_slot(&s->m->c);
    if (s->emb.p && fn(ctx, emb, "token_embd", s->emb.p, s->emb.codes)) return -1;
    if (s->head.p && fn(ctx, emb + 1, "output", s->head.p, s->head.codes)) return -1;
    char name[64];
    for (int i = 0; s->lin && i < emb; i++) {
        if (!s->lin[i].p) continue;
        snprintf(name, sizeof name, "blk.%d.linear%d", i / LLM_MAX_LINEARS, i % LLM_MAX_LINEARS);
        if (fn(ctx, i, name, s->lin[i].p, s->lin[i].codes)) return -1;
    }
    return 0;
}

void llm_export_hold_free(LlmExportHold *h) {
    tokenizer_free(h->tok);
    llm_free(&h->m);
    memset(h, 0, sizeof *h);
}
