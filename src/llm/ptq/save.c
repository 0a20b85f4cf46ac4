/* save.c — writing a quantized model held in memory as a quant-llm safetensors file
 * (llm_ptq.h, docs/formats.md): the tensor list of qfile_write.c, filled from the model and
 * the quantization result in the list's order, then st_write. */
#include <stdlib.h>
#include <string.h>

#include "quant/llm_ptq.h"
#include "quant/llm_qfile.h"
#include "quant/safetensors.h"

int llm_save_quantized(const char *path, const LlmModel *m, const LlmQuantized *q, const char *source, QErr *err) {
    const LlmConfig *c = &m->c;
    const int64_t D = c->dim, V = c->vocab_size;
    const int emb_bits = q->emb_codes ? q->emb_bits : 0;
    if ((llm_qfile_head_bits(c, &q->scheme) > 0) != (q->head_codes != NULL))
        return qerr_set(err, "internal: %s: the scheme's classifier width and the quantization result disagree", path);
    LlmQfileLayout L;
    if (llm_qfile_layout(c, m->pos_emb != NULL, m->final_norm_b != NULL, &q->scheme, emb_bits, &L, err)) return -1;
    LlmQfileSink k = {.L = &L, .path = path};
    int rc = emb_bits ? llm_qfile_put_quant(&k, "token_embd", &q->emb_p, q->emb_codes, err)
                      : llm_qfile_put_f32(&k, "token_embd.weight", m->tok_emb, V * D, err);
    if (rc == 0 && q->head_codes) rc = llm_qfile_put_quant(&k, "output", &q->head_p, q->head_codes, err);
    else if (rc == 0 && !c->shared_head) rc = llm_qfile_put_f32(&k, "output.weight", m->head, V * D, err);
    if (rc == 0 && m->pos_emb) rc = llm_qfile_put_f32(&k, "position_embd.weight", m->pos_emb, (int64_t)c->max_seq * D, err);
    if (rc == 0) rc = llm_qfile_put_f32(&k, "output_norm.weight", m->final_norm, D, err);
    if (rc == 0 && m->final_norm_b) rc = llm_qfile_put_f32(&k, "output_norm.bias", m->final_norm_b, D, err);
    char name[160];
    int idx = 0;
    for (int l = 0; l < c->n_layers && rc == 0; l++) {
        const LlmLayer *y = &m->layers[l];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        rc = llm_qfile_put_f32(&k, name, y->attn_norm, D, err);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        if (rc == 0) rc = llm_qfile_put_f32(&k, name, y->ffn_norm, D, err);
        if (rc == 0 && y->attn_norm_b) {
            snprintf(name, sizeof name, "blk.%d.attn_norm.bias", l);
            rc = llm_qfile_put_f32(&k, name, y->attn_norm_b, D, err);
            snprintf(name, sizeof name, "blk.%d.ffn_norm.bias", l);
            if (rc == 0) rc = llm_qfile_put_f32(&k, name, y->ffn_norm_b, D, err);
        }
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears((LlmModel *)m, l, lin);
        for (int j = 0; j < nl && rc == 0; j++, idx++) {
            if (idx >= q->n) {
                rc = qerr_set(err, "%s: the quantization result has %d linears, the model more", path, q->n);
                break;
            }
            char base[96];
            snprintf(base, sizeof base, "blk.%d.%s", l, lin[j].name);
            rc = llm_qfile_put_quant(&k, base, &q->lin[idx].p, q->lin[idx].codes, err);
            if (rc == 0 && lin[j].b) {
                snprintf(name, sizeof name, "%s.bias", base);
                rc = llm_qfile_put_f32(&k, name, lin[j].b, lin[j].out, err);
            }
        }
    }
    if (rc == 0) rc = llm_qfile_sink_done(&k, err);
    if (rc == 0) {
        char v[LLM_QFILE_META_MAX][64];
        const char *keys[LLM_QFILE_META_MAX], *vals[LLM_QFILE_META_MAX];
        int nm = llm_qfile_meta(c, &q->scheme, emb_bits, source, v, keys, vals);
        rc = st_write(path, L.t, L.n, keys, vals, nm, err);
    }
    llm_qfile_sink_free(&k);
    llm_qfile_layout_free(&L);
    return rc;
}
