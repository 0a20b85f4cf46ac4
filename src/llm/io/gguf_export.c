/* gguf_export.c — quant's language models as GGUF files for llama.cpp (llm_gguf.h).
 *
 * Tensor names and metadata keys are llama.cpp's for the llama and gpt2 architectures.  A
 * weight W [out, in] is written with ne = {in, out}.  Quantized linears become Q4_0 / Q8_0
 * blocks (qblock.h) whose scale is the scale unit's float16 scale, exact by construction:
 * every block must sit inside one unit, every scale must be a float16, every code inside the
 * block type's range — checked here, with an error saying what to change otherwise. */
#include <stdlib.h>
#include <string.h>

#include "quant/llm_gguf.h"
#include "quant/qblock.h"

typedef struct Ctx {
    GgufWriter w;
    LlmExportReport *r;
    const LlmGgufOpts *o;
    const char *path;
    QErr *err;
} Ctx;

/* A matrix made of stacked parts (GPT-2's fused q|k|v), each fp32 (w) or quantized (p, codes). */
typedef struct Part {
    const float *w;         /* [rows, cols] */
    LlmQView q;
    int64_t rows;
    const int64_t *row_map; /* [rows]: output row r takes source row row_map[r] (rotary permutation) or NULL */
} Part;

static void report(Ctx *x, const char *kind, uint32_t type, int exact) {
    LlmExportReport *r = x->r;
    r->n_tensors++;
    for (int i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].kind, kind) == 0 && strcmp(r->rows[i].type, ggml_type_name(type)) == 0) {
            r->rows[i].count++;
            r->rows[i].exact &= exact;
            return;
        }
    if (r->n_rows == (int)(sizeof r->rows / sizeof r->rows[0])) return;
    LlmExportRow *row = &r->rows[r->n_rows++];
    snprintf(row->kind, sizeof row->kind, "%s", kind);
    snprintf(row->type, sizeof row->type, "%s", ggml_type_name(type));
    row->count = 1;
    row->exact = exact;
}

/* The block type a quantized tensor maps to exactly, or -1 + err naming what to change. */
static int block_type(Ctx *x, const char *name, const LlmQView *q, int64_t rows, int64_t cols, uint32_t *type) {
    const QParams *p = q->p;
    if (!p->symmetric)
        return qerr_set(x->err, "%s: %s is affine (zero-points): GGUF's Q4_1 / Q5_1 store the offset as a float16 "
                        "d*(qmin - z) that is not exact; re-quantize symmetric (without --affine) to export", x->path, name);
    int32_t lo = 127, hi = -128;
    for (int64_t i = 0; i < rows * cols; i++) {
        lo = q->codes[i] < lo ? q->codes[i] : lo;
        hi = q->codes[i] > hi ? q->codes[i] : hi;
    }
    if (p->bits <= 4 && lo >= -8 && hi <= 7) *type = GGML_TYPE_Q4_0;
    else if (lo >= -127) *type = GGML_TYPE_Q8_0;
    else
        return qerr_set(x->err, "%s: %s has the code -128: llama.cpp's Q8_0 assumes codes in -127..127; re-quantize "
                        "with the restricted 8-bit grid (scale = max|w| / 127, what ptq-llm uses now)", x->path, name);
    for (int64_t k = 0; k < p->n; k++) {
        uint16_t h = qf32_to_f16(p->scale[k]);
        if (qf16_to_f32(h) != p->scale[k])
            return qerr_set(x->err, "%s: %s: scale %lld (%g) is not a float16; GGUF blocks hold float16 scales", x->path,
                            name, (long long)k, p->scale[k]);
    }
    /* every 32-wide block of a row inside one scale unit (units are the same in every row) */
    for (int64_t c0 = 0; c0 < cols; c0 += QK) {
        int64_t c1 = (c0 + QK < cols ? c0 + QK : cols) - 1;
        if (qparams_index(p, 0, c0) != qparams_index(p, 0, c1))
            return qerr_set(x->err, "%s: %s: columns %lld..%lld fall in two scale groups (group size %lld); a GGUF "
                            "Q4_0/Q8_0 block holds one scale per 32 weights: re-quantize with --group-size 32, a "
                            "multiple of 32, or 0 (per channel)", x->path, name, (long long)c0, (long long)c1,
                            (long long)p->group_size);
    }
    return 0;
}

/* Writes parts stacked as one [rows_pad, cols_pad] tensor (zero padding); kind names the
 * report line. */
static int put_matrix(Ctx *x, const char *name, const char *kind, const Part *parts, int np, int64_t cols, int64_t rows_pad,
                      int64_t cols_pad) {
    uint32_t type = x->o->f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
    int quant = parts[0].q.p != NULL;
    for (int i = 0; i < np; i++) {
        if ((parts[i].q.p != NULL) != quant)
            return qerr_set(x->err, "%s: %s mixes quantized and fp32 parts", x->path, name);
        if (quant) {
            uint32_t t = 0;
            if (block_type(x, name, &parts[i].q, parts[i].rows, cols, &t)) return -1;
            if (i > 0 && t != type)
                return qerr_set(x->err, "%s: %s: its parts map to different GGUF types", x->path, name);
            type = t;
        }
    }
    if (quant && cols_pad % QK)
        return qerr_set(x->err, "%s: %s: rows of %lld weights are not whole 32-wide blocks (only the FFN width is "
                        "padded: padding the model width would change the norms)", x->path, name, (long long)cols);
    int64_t be, bb;
    ggml_type_block(type, &be, &bb);
    uint64_t row_bytes = (uint64_t)(cols_pad / be * bb), nbytes = row_bytes * (uint64_t)rows_pad;
    uint8_t *out = xcalloc((size_t)nbytes, 1);
    int64_t r = 0;
    for (int i = 0; i < np; i++) {
        const Part *pt = &parts[i];
        for (int64_t k = 0; k < pt->rows; k++, r++) {
            int64_t src = pt->row_map ? pt->row_map[k] : k;
            uint8_t *dst = out + (uint64_t)r * row_bytes;
            if (type == GGML_TYPE_F32) {
                memcpy(dst, pt->w + src * cols, (size_t)cols * 4);
            } else if (type == GGML_TYPE_F16) {
                for (int64_t c = 0; c < cols; c++) {
                    uint16_t h = qf32_to_f16(pt->w[src * cols + c]);
                    memcpy(dst + 2 * c, &h, 2);
                }
            } else {
                const int8_t *codes = pt->q.codes + src * cols;
                for (int64_t c0 = 0, b = 0; c0 < cols_pad; c0 += QK, b++) {
                    int n = c0 >= cols ? 0 : (int)(cols - c0 < QK ? cols - c0 : QK);
                    uint16_t d = n ? qf32_to_f16(pt->q.p->scale[qparams_index(pt->q.p, src, c0)]) : 0;
                    if (type == GGML_TYPE_Q4_0) qblock_q4_0_pack(codes + c0, n, d, (QBlockQ4_0 *)(dst + b * bb));
                    else qblock_q8_0_pack(codes + c0, n, d, (QBlockQ8_0 *)(dst + b * bb));
                }
            }
        }
    }
    /* padding rows: zeros (F32 / F16 zeros; a Q4_0 block of zeros needs code 8 in each nibble) */
    for (; r < rows_pad; r++)
        if (type == GGML_TYPE_Q4_0)
            for (int64_t b = 0; b < cols_pad / QK; b++) qblock_q4_0_pack(NULL, 0, 0, (QBlockQ4_0 *)(out + (uint64_t)r * row_bytes + b * bb));
    int64_t ne[2] = {cols_pad, rows_pad};
    gguf_w_tensor(&x->w, name, type, 2, ne, out, nbytes, 1);
    report(x, kind, type, type != GGML_TYPE_F16);
    return 0;
}

/* A 1-D fp32 vector of n values zero-padded to n_pad. */
static void put_vec(Ctx *x, const char *name, const char *kind, const float *v, int64_t n, int64_t n_pad) {
    float *out = xcalloc((size_t)n_pad, sizeof(float));
    memcpy(out, v, (size_t)n * 4);
    gguf_w_tensor(&x->w, name, GGML_TYPE_F32, 1, &n_pad, out, (uint64_t)n_pad * 4, 1);
    report(x, kind, GGML_TYPE_F32, 1);
}

/* Hugging Face rotates halves (i, i + hs/2) of each head, llama.cpp pairs (2i, 2i + 1):
 * output row h*hs + 2i + j takes source row h*hs + j*hs/2 + i. */
static int64_t *rope_perm(int heads, int hs) {
    int64_t *m = xmalloc((size_t)heads * hs * sizeof(int64_t));
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < hs / 2; i++)
            for (int j = 0; j < 2; j++) m[h * hs + 2 * i + j] = h * hs + j * (hs / 2) + i;
    return m;
}

static void put_tokenizer(Ctx *x, const TokenizerVocab *v) {
    GgufWriter *w = &x->w;
    gguf_w_str(w, "tokenizer.ggml.model", v->model);
    if (strcmp(v->model, "gpt2") == 0) gguf_w_str(w, "tokenizer.ggml.pre", "gpt-2");
    gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tok, v->len, v->n);
    if (v->score) gguf_w_arr_f32(w, "tokenizer.ggml.scores", v->score, v->n);
    gguf_w_arr_i32(w, "tokenizer.ggml.token_type", v->type, v->n);
    if (v->n_merges) gguf_w_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, NULL, v->n_merges);
    if (v->bos >= 0) gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (v->eos >= 0) gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    if (v->unk >= 0) gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)v->unk);
    gguf_w_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
    gguf_w_bool(w, "tokenizer.ggml.add_eos_token", 0);
}

int llm_export_gguf(const LlmExportSource *s, const char *path, const LlmGgufOpts *o, LlmExportReport *r, QErr *err) {
    memset(r, 0, sizeof *r);
    const LlmModel *m = s->m;
    const LlmConfig *c = &m->c;
    const int gpt2 = c->arch == LLM_ARCH_GPT2;
    const int64_t D = c->dim, F = c->hidden_dim, V = c->vocab_size, hs = D / c->n_heads;
    const int64_t kvd = hs * c->n_kv_heads;
    Ctx x = {.r = r, .o = o, .path = path, .err = err};
    gguf_w_init(&x.w);
    TokenizerVocab voc;
    if (tokenizer_vocab_get(s->tok, &voc, err)) return qerr_prefix(err, "%s", path);
    if (voc.n > V) {
        tokenizer_vocab_free(&voc);
        return qerr_set(err, "%s: the tokenizer has %d tokens, the model %lld", path, voc.n, (long long)V);
    }
    if (!gpt2 && strcmp(voc.model, "llama") != 0) {
        tokenizer_vocab_free(&voc);
        return qerr_set(err, "%s: a llama model with a %s tokenizer; llama.cpp's llama architecture expects a "
                        "SentencePiece-style vocabulary", path, voc.model);
    }
    /* FFN width: padded to whole blocks when the down projection is block-quantized */
    int64_t Fp = F;
    if (s->lin && F % QK) {
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears((LlmModel *)m, 0, lin);
        if (s->lin[nl - 1].p) Fp = (F + QK - 1) / QK * QK;
    }
    if (Fp != F)
        snprintf(r->padding, sizeof r->padding, "FFN width %lld -> %lld: zero rows of gate/up, zero columns of down "
                 "(exact)", (long long)F, (long long)Fp);
    const char *arch = gpt2 ? "gpt2" : "llama";
    char key[96];
    GgufWriter *w = &x.w;
    gguf_w_str(w, "general.architecture", arch);
    gguf_w_str(w, "general.name", s->name ? s->name : m->name);
    gguf_w_u32(w, "general.quantization_version", 2);
    gguf_w_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
#define ARCH_KEY(k) (snprintf(key, sizeof key, "%s." k, arch), key)
    gguf_w_u32(w, ARCH_KEY("context_length"), (uint32_t)c->max_seq);
    gguf_w_u32(w, ARCH_KEY("embedding_length"), (uint32_t)D);
    gguf_w_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)Fp);
    gguf_w_u32(w, ARCH_KEY("block_count"), (uint32_t)c->n_layers);
    gguf_w_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)c->n_heads);
    if (gpt2) {
        gguf_w_f32(w, ARCH_KEY("attention.layer_norm_epsilon"), c->norm_eps);
    } else {
        gguf_w_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
        gguf_w_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), c->norm_eps);
        gguf_w_f32(w, ARCH_KEY("rope.freq_base"), c->rope_theta);
        gguf_w_u32(w, ARCH_KEY("rope.dimension_count"), (uint32_t)hs);
        gguf_w_u32(w, ARCH_KEY("vocab_size"), (uint32_t)V);
    }
#undef ARCH_KEY
    put_tokenizer(&x, &voc);
    tokenizer_vocab_free(&voc);

    int rc = -1;
    int64_t *pq = NULL, *pk = NULL;
    if (!gpt2 && !c->rope_interleaved) {
        pq = rope_perm(c->n_heads, (int)hs);
        pk = rope_perm(c->n_kv_heads, (int)hs);
    }
    Part pe = {m->tok_emb, o->emb_f32 ? (LlmQView){0} : s->emb, V, NULL};
    if (put_matrix(&x, "token_embd.weight", "token_embd", &pe, 1, D, V, D)) goto out;
    if (gpt2) {
        Part pp = {m->pos_emb, {0}, c->max_seq, NULL};
        if (put_matrix(&x, "position_embd.weight", "position_embd", &pp, 1, D, c->max_seq, D)) goto out;
    }
    put_vec(&x, "output_norm.weight", "norms", m->final_norm, D, D);
    if (gpt2) put_vec(&x, "output_norm.bias", "biases", m->final_norm_b, D, D);
    if (!c->shared_head) {
        Part ph = {m->head, s->head, V, NULL};
        if (put_matrix(&x, "output.weight", "output", &ph, 1, D, V, D)) goto out;
    }
    char name[96];
    for (int l = 0; l < c->n_layers; l++) {
        const LlmLayer *y = &m->layers[l];
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears((LlmModel *)m, l, lin);
        const LlmQView *q = s->lin ? s->lin + (size_t)l * LLM_MAX_LINEARS : NULL;
        static const LlmQView none = {0};
#define QV(k) (q ? q[k] : none)
#define NAME(fmt) (snprintf(name, sizeof name, "blk.%d." fmt, l), name)
        put_vec(&x, NAME("attn_norm.weight"), "norms", y->attn_norm, D, D);
        put_vec(&x, NAME("ffn_norm.weight"), "norms", y->ffn_norm, D, D);
        if (gpt2) {
            put_vec(&x, NAME("attn_norm.bias"), "biases", y->attn_norm_b, D, D);
            put_vec(&x, NAME("ffn_norm.bias"), "biases", y->ffn_norm_b, D, D);
            Part qkv[3] = {{y->wq, QV(0), D, NULL}, {y->wk, QV(1), kvd, NULL}, {y->wv, QV(2), kvd, NULL}};
            if (put_matrix(&x, NAME("attn_qkv.weight"), "attn_qkv", qkv, 3, D, D + 2 * kvd, D)) goto out;
            float *b = xmalloc((size_t)(D + 2 * kvd) * sizeof(float));
            memcpy(b, y->bq, (size_t)D * 4);
            memcpy(b + D, y->bk, (size_t)kvd * 4);
            memcpy(b + D + kvd, y->bv, (size_t)kvd * 4);
            put_vec(&x, NAME("attn_qkv.bias"), "biases", b, D + 2 * kvd, D + 2 * kvd);
            free(b);
            Part po = {y->wo, QV(3), D, NULL}, pu = {y->w_up, QV(4), F, NULL}, pd = {y->w_down, QV(5), D, NULL};
            if (put_matrix(&x, NAME("attn_output.weight"), "attn_output", &po, 1, D, D, D)) goto out;
            put_vec(&x, NAME("attn_output.bias"), "biases", y->bo, D, D);
            if (put_matrix(&x, NAME("ffn_up.weight"), "ffn_up", &pu, 1, D, Fp, D)) goto out;
            put_vec(&x, NAME("ffn_up.bias"), "biases", y->b_up, F, Fp);
            if (put_matrix(&x, NAME("ffn_down.weight"), "ffn_down", &pd, 1, F, D, Fp)) goto out;
            put_vec(&x, NAME("ffn_down.bias"), "biases", y->b_down, D, D);
        } else {
            Part pq_ = {y->wq, QV(0), D, pq}, pk_ = {y->wk, QV(1), kvd, pk}, pv = {y->wv, QV(2), kvd, NULL};
            Part po = {y->wo, QV(3), D, NULL}, pg = {y->w_gate, QV(4), F, NULL}, pu = {y->w_up, QV(5), F, NULL};
            Part pd = {y->w_down, QV(6), D, NULL};
            if (put_matrix(&x, NAME("attn_q.weight"), "attn_q", &pq_, 1, D, D, D) ||
                put_matrix(&x, NAME("attn_k.weight"), "attn_k", &pk_, 1, D, kvd, D) ||
                put_matrix(&x, NAME("attn_v.weight"), "attn_v", &pv, 1, D, kvd, D) ||
                put_matrix(&x, NAME("attn_output.weight"), "attn_output", &po, 1, D, D, D) ||
                put_matrix(&x, NAME("ffn_gate.weight"), "ffn_gate", &pg, 1, D, Fp, D) ||
                put_matrix(&x, NAME("ffn_up.weight"), "ffn_up", &pu, 1, D, Fp, D) ||
                put_matrix(&x, NAME("ffn_down.weight"), "ffn_down", &pd, 1, F, D, Fp))
                goto out;
        }
        (void)nl;
#undef QV
#undef NAME
    }
    rc = gguf_w_write(w, path, &r->bytes, err);
out:
    free(pq);
    free(pk);
    gguf_w_free(&x.w);
    return rc;
}
