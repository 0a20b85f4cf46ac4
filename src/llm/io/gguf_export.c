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
#include "quant/llm_qfile.h"
#include "quant/qblock.h"

/* A matrix made of stacked parts (GPT-2's fused q|k|v): each fp32 (w) or quantized (slot:
 * where its codes come from in the source's walk, -1 when fp32). */
typedef struct Part {
    const float *w;         /* [rows, cols] */
    int slot;
    int64_t rows;
    const int64_t *row_map; /* [rows]: output row r takes source row row_map[r] (rotary permutation) or NULL */
} Part;

/* One GGUF tensor to write: a matrix of parts padded to [rows_pad, cols_pad], or a vector. */
typedef struct OutT {
    char name[96];
    uint32_t type;
    int quant;              /* its bytes come from the codes walk (written in the walk's order) */
    Part parts[3];
    int np, got;            /* parts, parts packed so far */
    int64_t cols, rows_pad, cols_pad;
    const float *v;         /* a vector: n values zero-padded to cols_pad */
    float *own;             /* v when built here */
    int64_t n;
    uint64_t nbytes;
    int key;                /* write order: fp32 tensors first (declaration order), then quantized by slot */
} OutT;

/* Source slots: every linear of every block (layer * LLM_MAX_LINEARS + index), then the embedding
 * and the untied classifier. */
typedef struct Ctx {
    GgufWriter w;
    LlmExportReport *r;
    const LlmGgufOpts *o;
    const LlmExportSource *s;
    const char *path;
    QErr *err;
    int n_slots, emb_slot, head_slot;
    uint32_t *slot_type;    /* [n_slots] GGUF type of a quantized slot, 0 = not quantized (F32 is 0 too:
                               a quantized slot never maps to it) */
    int *slot_out, *slot_part; /* [n_slots] the tensor and part a slot fills */
    OutT *t;
    int nt, cap;
    int next_q;             /* during the write walk: index (in write order) of the tensor being filled */
    uint8_t *pending;       /* its bytes */
    int *order;             /* [nt] write order */
} Ctx;

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
static int block_type(Ctx *x, const char *name, const QParams *p, const int8_t *codes, uint32_t *type) {
    const int64_t rows = p->rows, cols = p->cols;
    if (!p->symmetric)
        return qerr_set(x->err, "%s: %s is affine (zero-points): GGUF's Q4_1 / Q5_1 store the offset as a float16 "
                        "d*(qmin - z) that is not exact; re-quantize symmetric (without --affine) to export", x->path, name);
    int32_t lo = 127, hi = -128;
    for (int64_t i = 0; i < rows * cols; i++) {
        lo = codes[i] < lo ? codes[i] : lo;
        hi = codes[i] > hi ? codes[i] : hi;
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

/* ------------------------------------------------------------ the codes walk */
/* The source's quantized tensors one at a time (llm_export_walk): the embedding and an untied
 * classifier first, then the blocks' linears; from quant's file nothing is held but the codes
 * of one tensor. */
typedef int (*SlotFn)(Ctx *x, int slot, const char *name, const QParams *p, const int8_t *codes);
typedef struct WalkCtx {
    Ctx *x;
    SlotFn fn;
} WalkCtx;

static int walk_fn(void *ctx, int slot, const char *name, const QParams *p, const int8_t *codes) {
    WalkCtx *wc = ctx;
    return wc->fn(wc->x, slot, name, p, codes);
}

static int walk(Ctx *x, SlotFn fn) {
    WalkCtx wc = {x, fn};
    return llm_export_walk(x->s, walk_fn, &wc, x->err);
}

/* first walk: each quantized tensor's GGUF type (everything checked before a byte is written) */
static int plan_fn(Ctx *x, int slot, const char *name, const QParams *p, const int8_t *codes) {
    return block_type(x, name, p, codes, &x->slot_type[slot]);
}

/* ---------------------------------------------------------- the tensors */
static OutT *new_out(Ctx *x, const char *name) {
    if (x->nt == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 64;
        x->t = xrealloc(x->t, (size_t)x->cap * sizeof *x->t);
    }
    OutT *t = &x->t[x->nt++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

/* Declares parts stacked as one [rows_pad, cols_pad] tensor (zero padding); kind names the
 * report line. */
static int put_matrix(Ctx *x, const char *name, const char *kind, Part *parts, int np, int64_t cols, int64_t rows_pad,
                      int64_t cols_pad) {
    uint32_t type = x->o->f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
    for (int i = 0; i < np; i++)
        if (parts[i].slot >= 0 && !x->slot_type[parts[i].slot]) parts[i].slot = -1; /* not quantized in the source */
    int quant = parts[0].slot >= 0;
    for (int i = 0; i < np; i++) {
        if ((parts[i].slot >= 0) != quant) return qerr_set(x->err, "%s: %s mixes quantized and fp32 parts", x->path, name);
        if (quant) {
            uint32_t t = x->slot_type[parts[i].slot];
            if (i > 0 && t != type) return qerr_set(x->err, "%s: %s: its parts map to different GGUF types", x->path, name);
            type = t;
        }
    }
    if (quant && cols_pad % QK)
        return qerr_set(x->err, "%s: %s: rows of %lld weights are not whole 32-wide blocks (only the FFN width is "
                        "padded: padding the model width would change the norms)", x->path, name, (long long)cols);
    int64_t be, bb;
    ggml_type_block(type, &be, &bb);
    OutT *t = new_out(x, name);
    t->type = type;
    t->quant = quant;
    t->np = np;
    memcpy(t->parts, parts, (size_t)np * sizeof *parts);
    t->cols = cols;
    t->rows_pad = rows_pad;
    t->cols_pad = cols_pad;
    t->nbytes = (uint64_t)(cols_pad / be * bb) * (uint64_t)rows_pad;
    /* the walk yields the embedding and the classifier first (declared in that order), then the linears */
    t->key = quant ? parts[0].slot >= x->emb_slot ? -1 : parts[0].slot : -2;
    for (int i = 0; quant && i < np; i++) {
        x->slot_out[parts[i].slot] = x->nt - 1;
        x->slot_part[parts[i].slot] = i;
    }
    report(x, kind, type, type != GGML_TYPE_F16);
    return 0;
}

/* A 1-D fp32 vector of n values zero-padded to n_pad (own: v was allocated here). */
static void put_vec(Ctx *x, const char *name, const char *kind, const float *v, int64_t n, int64_t n_pad, int own) {
    OutT *t = new_out(x, name);
    t->type = GGML_TYPE_F32;
    t->v = v;
    t->own = own ? (float *)v : NULL;
    t->n = n;
    t->cols_pad = n_pad;
    t->nbytes = (uint64_t)n_pad * 4;
    t->key = -2;
    report(x, kind, GGML_TYPE_F32, 1);
}

/* The bytes of an fp32 tensor (F32 / F16 matrix or F32 vector). */
static uint8_t *fp_bytes(const OutT *t) {
    uint8_t *out = xcalloc((size_t)t->nbytes, 1);
    if (t->v) {
        memcpy(out, t->v, (size_t)t->n * 4);
        return out;
    }
    const uint64_t row_bytes = t->nbytes / (uint64_t)t->rows_pad;
    int64_t r = 0;
    for (int i = 0; i < t->np; i++) {
        const Part *pt = &t->parts[i];
        for (int64_t k = 0; k < pt->rows; k++, r++) {
            int64_t src = pt->row_map ? pt->row_map[k] : k;
            uint8_t *dst = out + (uint64_t)r * row_bytes;
            if (t->type == GGML_TYPE_F32) {
                memcpy(dst, pt->w + src * t->cols, (size_t)t->cols * 4);
            } else {
                for (int64_t c = 0; c < t->cols; c++) {
                    uint16_t h = qf32_to_f16(pt->w[src * t->cols + c]);
                    memcpy(dst + 2 * c, &h, 2);
                }
            }
        }
    }
    return out;
}

/* second walk: each quantized part packed into its tensor's blocks; a tensor is written as
 * soon as its last part is in (parts of one tensor are consecutive slots) */
static int write_fn(Ctx *x, int slot, const char *name, const QParams *p, const int8_t *codes) {
    int ti = x->slot_out[slot];
    if (ti < 0) return 0; /* quantized in the source but written from its fp32 values (--emb-f32) */
    if (x->next_q >= x->nt || ti != x->order[x->next_q])
        return qerr_set(x->err, "%s: %s: the codes arrive out of the declared order", x->path, name);
    OutT *t = &x->t[ti];
    const Part *pt = &t->parts[x->slot_part[slot]];
    if (p->rows != pt->rows || p->cols != t->cols)
        return qerr_set(x->err, "%s: %s is [%lld, %lld], the model says [%lld, %lld]", x->path, name, (long long)p->rows,
                        (long long)p->cols, (long long)pt->rows, (long long)t->cols);
    int64_t be, bb;
    ggml_type_block(t->type, &be, &bb);
    const uint64_t row_bytes = t->nbytes / (uint64_t)t->rows_pad;
    if (!x->pending) x->pending = xcalloc((size_t)t->nbytes, 1);
    int64_t r = 0;
    for (int i = 0; i < x->slot_part[slot]; i++) r += t->parts[i].rows;
    for (int64_t k = 0; k < pt->rows; k++, r++) {
        int64_t src = pt->row_map ? pt->row_map[k] : k;
        const int8_t *row = codes + src * t->cols;
        uint8_t *dst = x->pending + (uint64_t)r * row_bytes;
        for (int64_t c0 = 0, b = 0; c0 < t->cols_pad; c0 += QK, b++) {
            int n = c0 >= t->cols ? 0 : (int)(t->cols - c0 < QK ? t->cols - c0 : QK);
            uint16_t d = n ? qf32_to_f16(p->scale[qparams_index(p, src, c0)]) : 0;
            if (t->type == GGML_TYPE_Q4_0) qblock_q4_0_pack(row + c0, n, d, (QBlockQ4_0 *)(dst + b * bb));
            else qblock_q8_0_pack(row + c0, n, d, (QBlockQ8_0 *)(dst + b * bb));
        }
    }
    if (++t->got < t->np) return 0;
    /* padding rows: zeros (a Q4_0 block of zeros needs code 8 in each nibble; Q8_0's are 0 bytes) */
    for (; r < t->rows_pad; r++)
        if (t->type == GGML_TYPE_Q4_0)
            for (int64_t b = 0; b < t->cols_pad / QK; b++)
                qblock_q4_0_pack(NULL, 0, 0, (QBlockQ4_0 *)(x->pending + (uint64_t)r * row_bytes + b * bb));
    int rc = gguf_w_put(&x->w, x->pending, t->nbytes, x->err);
    free(x->pending);
    x->pending = NULL;
    x->next_q++;
    return rc;
}

typedef struct KeyIdx {
    int key, idx;
} KeyIdx;
static int by_key(const void *a, const void *b) {
    const KeyIdx *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx - y->idx; /* stable */
}

/* Declares the tensors in write order, writes the fp32 ones, then the quantized ones as the
 * second walk produces them. */
static int write_all(Ctx *x, uint64_t *bytes) {
    KeyIdx *ki = xmalloc((size_t)(x->nt ? x->nt : 1) * sizeof *ki);
    for (int i = 0; i < x->nt; i++) ki[i] = (KeyIdx){x->t[i].key, i};
    qsort(ki, (size_t)x->nt, sizeof *ki, by_key);
    x->order = xmalloc((size_t)(x->nt ? x->nt : 1) * sizeof(int));
    for (int i = 0; i < x->nt; i++) x->order[i] = ki[i].idx;
    free(ki);
    int nq = 0;
    for (int i = 0; i < x->nt; i++) {
        const OutT *t = &x->t[x->order[i]];
        int64_t ne[2] = {t->cols_pad, t->rows_pad};
        gguf_w_tensor(&x->w, t->name, t->type, t->v ? 1 : 2, ne, NULL, t->nbytes, 0);
        nq += t->quant;
    }
    if (gguf_w_begin(&x->w, x->path, x->err)) return -1;
    int i = 0;
    for (; i < x->nt && !x->t[x->order[i]].quant; i++) {
        const OutT *t = &x->t[x->order[i]];
        /* an F32 matrix stored as it is (the embedding, a classifier): written from the model's
         * array, not copied (0.5 GB of copies on a 1.1B model) */
        const Part *p0 = &t->parts[0];
        int as_is = !t->v && t->type == GGML_TYPE_F32 && t->np == 1 && !p0->row_map && p0->rows == t->rows_pad &&
                    t->cols == t->cols_pad;
        uint8_t *b = as_is ? NULL : fp_bytes(t);
        int rc = gguf_w_put(&x->w, as_is ? (const void *)p0->w : b, t->nbytes, x->err);
        free(b);
        if (rc) return -1;
    }
    x->next_q = i;
    if (nq && walk(x, write_fn)) return -1;
    if (x->next_q != x->nt)
        return qerr_set(x->err, "%s: %d quantized tensors declared, %d written", x->path, nq, x->next_q - i);
    return gguf_w_end(&x->w, bytes, x->err);
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
    if (strcmp(v->model, "gpt2") == 0) gguf_w_str(w, "tokenizer.ggml.pre", v->pre ? v->pre : "gpt-2");
    else gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", !v->no_space_prefix);
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
    Ctx x = {.r = r, .o = o, .s = s, .path = path, .err = err};
    gguf_w_init(&x.w);
    x.emb_slot = llm_export_emb_slot(c);
    x.head_slot = x.emb_slot + 1;
    x.n_slots = x.emb_slot + 2;
    x.slot_type = xcalloc((size_t)x.n_slots, sizeof *x.slot_type);
    x.slot_out = xmalloc((size_t)x.n_slots * sizeof(int));
    x.slot_part = xmalloc((size_t)x.n_slots * sizeof(int));
    for (int i = 0; i < x.n_slots; i++) x.slot_out[i] = -1;
    int rc = -1;
    TokenizerVocab voc;
    int64_t *pq = NULL, *pk = NULL;
    if (tokenizer_vocab_get(s->tok, &voc, err)) {
        qerr_prefix(err, "%s", path);
        goto out;
    }
    if (voc.n > V) {
        tokenizer_vocab_free(&voc);
        qerr_set(err, "%s: the tokenizer has %d tokens, the model %lld", path, voc.n, (long long)V);
        goto out;
    }
    /* first walk over the quantized tensors: their types, every check done */
    if (walk(&x, plan_fn)) {
        tokenizer_vocab_free(&voc);
        goto out;
    }
    /* FFN width: padded to whole blocks when the down projection is block-quantized */
    int64_t Fp = F;
    if (F % QK) {
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears((LlmModel *)m, 0, lin);
        if (x.slot_type[nl - 1]) Fp = (F + QK - 1) / QK * QK;
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

    if (!gpt2 && !c->rope_interleaved) {
        pq = rope_perm(c->n_heads, (int)hs);
        pk = rope_perm(c->n_kv_heads, (int)hs);
    }
    Part pe = {m->tok_emb, o->emb_f32 ? -1 : x.emb_slot, V, NULL};
    if (put_matrix(&x, "token_embd.weight", "token_embd", &pe, 1, D, V, D)) goto out;
    if (gpt2) {
        Part pp = {m->pos_emb, -1, c->max_seq, NULL};
        if (put_matrix(&x, "position_embd.weight", "position_embd", &pp, 1, D, c->max_seq, D)) goto out;
    }
    put_vec(&x, "output_norm.weight", "norms", m->final_norm, D, D, 0);
    if (gpt2) put_vec(&x, "output_norm.bias", "biases", m->final_norm_b, D, D, 0);
    if (!c->shared_head) {
        Part ph = {m->head, x.head_slot, V, NULL};
        if (put_matrix(&x, "output.weight", "output", &ph, 1, D, V, D)) goto out;
    }
    char name[96];
    for (int l = 0; l < c->n_layers; l++) {
        const LlmLayer *y = &m->layers[l];
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears((LlmModel *)m, l, lin);
#define QV(k) (l * LLM_MAX_LINEARS + (k))
#define NAME(fmt) (snprintf(name, sizeof name, "blk.%d." fmt, l), name)
        put_vec(&x, NAME("attn_norm.weight"), "norms", y->attn_norm, D, D, 0);
        put_vec(&x, NAME("ffn_norm.weight"), "norms", y->ffn_norm, D, D, 0);
        if (gpt2) {
            put_vec(&x, NAME("attn_norm.bias"), "biases", y->attn_norm_b, D, D, 0);
            put_vec(&x, NAME("ffn_norm.bias"), "biases", y->ffn_norm_b, D, D, 0);
            Part qkv[3] = {{y->wq, QV(0), D, NULL}, {y->wk, QV(1), kvd, NULL}, {y->wv, QV(2), kvd, NULL}};
            if (put_matrix(&x, NAME("attn_qkv.weight"), "attn_qkv", qkv, 3, D, D + 2 * kvd, D)) goto out;
            float *b = xmalloc((size_t)(D + 2 * kvd) * sizeof(float));
            memcpy(b, y->bq, (size_t)D * 4);
            memcpy(b + D, y->bk, (size_t)kvd * 4);
            memcpy(b + D + kvd, y->bv, (size_t)kvd * 4);
            put_vec(&x, NAME("attn_qkv.bias"), "biases", b, D + 2 * kvd, D + 2 * kvd, 1);
            Part po = {y->wo, QV(3), D, NULL}, pu = {y->w_up, QV(4), F, NULL}, pd = {y->w_down, QV(5), D, NULL};
            if (put_matrix(&x, NAME("attn_output.weight"), "attn_output", &po, 1, D, D, D)) goto out;
            put_vec(&x, NAME("attn_output.bias"), "biases", y->bo, D, D, 0);
            if (put_matrix(&x, NAME("ffn_up.weight"), "ffn_up", &pu, 1, D, Fp, D)) goto out;
            put_vec(&x, NAME("ffn_up.bias"), "biases", y->b_up, F, Fp, 0);
            if (put_matrix(&x, NAME("ffn_down.weight"), "ffn_down", &pd, 1, F, D, Fp)) goto out;
            put_vec(&x, NAME("ffn_down.bias"), "biases", y->b_down, D, D, 0);
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
    rc = write_all(&x, &r->bytes);
out:
    free(pq);
    free(pk);
    free(x.pending);
    free(x.order);
    for (int i = 0; i < x.nt; i++) free(x.t[i].own);
    free(x.t);
    free(x.slot_type);
    free(x.slot_out);
    free(x.slot_part);
    gguf_w_free(&x.w);
    return rc;
}
