/* gptq_dir.c — the Hugging Face GPTQ checkpoint layout (llm_gptq_dir.h): reading a quantized
 * linear for llm_load_hf, and writing quant's quantized models as such a directory. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "quant/llm_gptq_dir.h"

/* ------------------------------------------------------------------ reading */
int gptq_layout_read(const char *path, GptqLayout *q, QErr *err) {
    memset(q, 0, sizeof *q);
    uint8_t *buf;
    size_t len;
    if (qfile_read_all(path, &buf, &len, err)) return -1;
    cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    int rc = 0;
    if (qc && !cJSON_IsNull(qc)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(qc, "quant_method"), *b = cJSON_GetObjectItemCaseSensitive(qc, "bits"),
                    *g = cJSON_GetObjectItemCaseSensitive(qc, "group_size"), *d = cJSON_GetObjectItemCaseSensitive(qc, "desc_act"),
                    *f = cJSON_GetObjectItemCaseSensitive(qc, "checkpoint_format");
        if (!cJSON_IsString(m) || strcmp(m->valuestring, "gptq") != 0)
            rc = qerr_set(err, "%s: quantization_config.quant_method is %s (quant reads \"gptq\")", path,
                          cJSON_IsString(m) ? m->valuestring : "missing");
        else if (!cJSON_IsNumber(b) || (b->valueint != 2 && b->valueint != 4 && b->valueint != 8))
            rc = qerr_set(err, "%s: quantization_config.bits must be 2, 4 or 8", path);
        else if (!cJSON_IsNumber(g) || (g->valueint != -1 && (g->valueint < 1 || g->valueint > (1 << 20))))
            rc = qerr_set(err, "%s: quantization_config.group_size must be -1 or 1..2^20", path);
        else if (cJSON_IsString(f) && strcmp(f->valuestring, "gptq") != 0 && strcmp(f->valuestring, "gptq_v2") != 0)
            rc = qerr_set(err, "%s: quantization_config.checkpoint_format \"%s\" (quant reads gptq and gptq_v2)", path,
                          f->valuestring);
        else {
            q->bits = b->valueint;
            q->group_size = g->valueint;
            q->desc_act = cJSON_IsTrue(d);
            q->v2 = cJSON_IsString(f) && strcmp(f->valuestring, "gptq_v2") == 0;
        }
    }
    cJSON_Delete(root);
    return rc;
}

static const StTensor *need(const Safetensors *st, const char *dir, const char *base, const char *part, StDtype dt,
                            int64_t d0, int64_t d1, QErr *err) {
    char name[300];
    snprintf(name, sizeof name, "%s.%s", base, part);
    const StTensor *t = st_find(st, name);
    if (!t) {
        qerr_set(err, "%s: tensor '%s' is missing (GPTQ layout)", dir, name);
        return NULL;
    }
    int ok = t->dtype == dt && (d1 ? (t->ndim == 2 && t->shape[0] == d0 && t->shape[1] == d1) : (t->ndim == 1 && t->shape[0] == d0));
    if (!ok) {
        qerr_set(err, "%s: tensor '%s' must be %s [%lld%s%lld] (GPTQ layout); it is %s with %d dims, first %lld", dir, name,
                 st_dtype_name(dt), (long long)d0, d1 ? ", " : "", (long long)(d1 ? d1 : 0), st_dtype_name(t->dtype), t->ndim,
                 (long long)(t->ndim ? t->shape[0] : 0));
        return NULL;
    }
    return t;
}

int gptq_linear_read(const Safetensors *st, const char *dir, const char *base, int64_t out, int64_t in, const GptqLayout *q,
                     float *w, QErr *err) {
    const int b = q->bits, k = 32 / b;
    const uint32_t mask = (1u << b) - 1;
    if (in % k || out % k)
        return qerr_set(err, "%s: %s: [%lld, %lld] does not pack %d-bit codes %d to an int32", dir, base, (long long)out,
                        (long long)in, b, k);
    int64_t groups = q->group_size > 0 ? (in + q->group_size - 1) / q->group_size : 1;
    const StTensor *tw = need(st, dir, base, "qweight", ST_I32, in / k, out, err);
    const StTensor *tz = tw ? need(st, dir, base, "qzeros", ST_I32, groups, out / k, err) : NULL;
    const StTensor *ts = tz ? need(st, dir, base, "scales", ST_F16, groups, out, err) : NULL;
    if (!ts) return -1;
    char gname[300];
    snprintf(gname, sizeof gname, "%s.g_idx", base);
    const StTensor *tg = st_find(st, gname) ? need(st, dir, base, "g_idx", ST_I32, in, 0, err) : NULL;
    if (st_find(st, gname) && !tg) return -1;
    int32_t *gi = xmalloc((size_t)in * sizeof(int32_t));
    for (int64_t i = 0; i < in; i++) {
        if (tg) memcpy(&gi[i], tg->data + 4 * i, 4);
        else gi[i] = q->group_size > 0 ? (int32_t)(i / q->group_size) : 0;
        if (gi[i] < 0 || gi[i] >= groups) {
            int32_t bad = gi[i];
            free(gi);
            return qerr_set(err, "%s: %s.g_idx[%lld] = %d, outside 0..%lld", dir, base, (long long)i, bad, (long long)groups - 1);
        }
    }
    /* scales and (zero + 1 in v1) per (group, output) */
    float *sc = xmalloc((size_t)(groups * out) * sizeof(float));
    int32_t *zp = xmalloc((size_t)(groups * out) * sizeof(int32_t));
    int rc = 0;
    for (int64_t g = 0; g < groups && rc == 0; g++)
        for (int64_t j = 0; j < out; j++) {
            uint16_t h;
            memcpy(&h, ts->data + 2 * (g * out + j), 2);
            sc[g * out + j] = qf16_to_f32(h);
            if (!isfinite(sc[g * out + j])) {
                rc = qerr_set(err, "%s: %s.scales[%lld, %lld] is not finite", dir, base, (long long)g, (long long)j);
                break;
            }
            uint32_t word;
            memcpy(&word, tz->data + 4 * (g * (out / k) + j / k), 4);
            zp[g * out + j] = (int32_t)((word >> (b * (j % k))) & mask) + (q->v2 ? 0 : 1);
        }
    for (int64_t i = 0; i < in && rc == 0; i++) {
        const uint8_t *row = tw->data + 4 * (i / k) * out;
        int sh = b * (int)(i % k);
        for (int64_t j = 0; j < out; j++) {
            uint32_t word;
            memcpy(&word, row + 4 * j, 4);
            int32_t u = (int32_t)((word >> sh) & mask);
            int64_t s = (int64_t)gi[i] * out + j;
            w[j * in + i] = sc[s] * (float)(u - zp[s]);
        }
    }
    free(gi);
    free(sc);
    free(zp);
    return rc;
}

/* ------------------------------------------------------------------ writing */
typedef struct Out {
    StWriteTensor *t;
    int n, cap;
    void **own;
    int nown;
    char **names;
} Out;

static void add(Out *o, const char *name, StDtype dt, int64_t d0, int64_t d1, const void *data) {
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 64;
        o->t = xrealloc(o->t, (size_t)o->cap * sizeof *o->t);
        o->own = xrealloc(o->own, (size_t)o->cap * 2 * sizeof(void *));
    }
    StWriteTensor *t = &o->t[o->n++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->dtype = dt;
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->data = data;
    o->own[o->nown++] = (void *)t->name;
    o->own[o->nown++] = (void *)data;
}

/* fp32 values [rows, cols] zero-padded to [rows_pad, cols_pad], as F32 or F16 */
static void add_fp(Out *o, const char *name, const float *w, int64_t rows, int64_t cols, int64_t rows_pad, int64_t cols_pad,
                   int f16, int two_d) {
    size_t n = (size_t)(rows_pad * cols_pad);
    void *buf = xcalloc(n, f16 ? 2 : 4);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            float v = w[r * cols + c];
            if (f16) ((uint16_t *)buf)[r * cols_pad + c] = qf32_to_f16(v);
            else ((float *)buf)[r * cols_pad + c] = v;
        }
    add(o, name, f16 ? ST_F16 : ST_F32, two_d ? rows_pad : cols_pad, two_d ? cols_pad : 0, buf);
}

typedef struct Lin {
    LlmQView q;
    int64_t rows;
    const int64_t *row_map; /* output row r takes source row row_map[r], or NULL */
} Lin;

/* The stacked quantized parts as one GPTQ linear [rows_pad, cols_pad]; exactness checked. */
static int add_gptq(Out *o, const char *dir, const char *base, const Lin *parts, int np, int64_t cols, int64_t rows_pad,
                    int64_t cols_pad, int bits, int group, QErr *err) {
    const int k = 32 / bits, half = 1 << (bits - 1);
    const uint32_t mask = (1u << bits) - 1;
    int64_t groups = group > 0 ? (cols_pad + group - 1) / group : 1;
    for (int i = 0; i < np; i++) {
        const QParams *p = parts[i].q.p;
        if (!p) return qerr_set(err, "%s: %s is not quantized; the GPTQ layout needs every linear quantized", dir, base);
        if (!p->symmetric)
            return qerr_set(err, "%s: %s is affine; quant writes the GPTQ layout for symmetric codes only", dir, base);
        if (p->bits > bits || (bits != 2 && bits != 4 && bits != 8))
            return qerr_set(err, "%s: %s has %d-bit codes; the GPTQ layout packs 2, 4 or 8 bits", dir, base, p->bits);
        /* every GPTQ group inside one of quant's scale units */
        for (int64_t c = 0; c < cols; c++) {
            int64_t g0 = group > 0 ? c / group * group : 0;
            if (qparams_index(p, 0, c) != qparams_index(p, 0, g0))
                return qerr_set(err, "%s: %s: column %lld is in another scale group than column %lld; re-quantize with "
                                "--group-size %d (or export with the matching group size)", dir, base, (long long)c,
                                (long long)g0, group);
        }
        for (int64_t x = 0; x < p->rows * p->cols; x++)
            if (parts[i].q.codes[x] < -half + (bits == 8) || parts[i].q.codes[x] >= half)
                return qerr_set(err, "%s: %s: code %d outside the %d-bit range", dir, base, parts[i].q.codes[x], bits);
    }
    uint32_t *qw = xcalloc((size_t)(cols_pad / k * rows_pad), 4);
    uint32_t *qz = xmalloc((size_t)(groups * rows_pad / k) * 4);
    uint16_t *sc = xcalloc((size_t)(groups * rows_pad), 2);
    int32_t *gi = xmalloc((size_t)cols_pad * 4);
    uint32_t zword = 0;
    for (int j = 0; j < k; j++) zword |= (uint32_t)(half - 1) << (bits * j); /* v1: zero - 1 */
    for (int64_t x = 0; x < groups * rows_pad / k; x++) qz[x] = zword;
    for (int64_t i = 0; i < cols_pad; i++) gi[i] = group > 0 ? (int32_t)(i / group) : 0;
    int64_t r = 0;
    for (int i = 0; i < np; i++) {
        const QParams *p = parts[i].q.p;
        for (int64_t t = 0; t < parts[i].rows; t++, r++) {
            int64_t src = parts[i].row_map ? parts[i].row_map[t] : t;
            for (int64_t c = 0; c < cols_pad; c++) {
                int code = c < cols ? parts[i].q.codes[src * cols + c] : 0;
                qw[(c / k) * rows_pad + r] |= ((uint32_t)(code + half) & mask) << (bits * (c % k));
            }
            for (int64_t g = 0; g < groups; g++) {
                int64_t c0 = g * (group > 0 ? group : 0);
                sc[g * rows_pad + r] = qf32_to_f16(p->scale[qparams_index(p, src, c0 < cols ? c0 : cols - 1)]);
            }
        }
    }
    /* padding rows: code 0 (stored as half) so they dequantize to 0 */
    for (; r < rows_pad; r++)
        for (int64_t c = 0; c < cols_pad; c++) qw[(c / k) * rows_pad + r] |= ((uint32_t)half & mask) << (bits * (c % k));
    char name[300];
    snprintf(name, sizeof name, "%s.qweight", base);
    add(o, name, ST_I32, cols_pad / k, rows_pad, qw);
    snprintf(name, sizeof name, "%s.qzeros", base);
    add(o, name, ST_I32, groups, rows_pad / k, qz);
    snprintf(name, sizeof name, "%s.scales", base);
    add(o, name, ST_F16, groups, rows_pad, sc);
    snprintf(name, sizeof name, "%s.g_idx", base);
    add(o, name, ST_I32, cols_pad, 0, gi);
    return 0;
}

/* llama2.c / llama.cpp rotate pairs (2i, 2i + 1), Hugging Face halves (i, i + hs/2): output
 * row h*hs + j*hs/2 + i takes source row h*hs + 2i + j. */
static int64_t *perm_to_halves(int heads, int hs) {
    int64_t *m = xmalloc((size_t)heads * hs * sizeof(int64_t));
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < hs / 2; i++)
            for (int j = 0; j < 2; j++) m[h * hs + j * (hs / 2) + i] = h * hs + 2 * i + j;
    return m;
}

static int write_text(const char *path, const char *s, size_t n, QErr *err) {
    QWriter w;
    if (qwriter_open(&w, path, err)) return -1;
    if (qwriter_write(&w, s, n, err)) {
        qwriter_abort(&w);
        return -1;
    }
    return qwriter_commit(&w, err);
}

/* the tokenizer beside the weights: vocab.json + merges.txt (gpt2) or tok<V>.bin (llama) */
static int write_tokenizer(const char *dir, const Tokenizer *tok, const char *tok_path, QErr *err) {
    TokenizerVocab v;
    char path[4200];
    if (tokenizer_vocab_get(tok, &v, err)) {
        /* a tokenizer.json quant cannot describe as a vocabulary (Llama BPE): copied as it is */
        if (!tok_path) return -1;
        char src[4200];
        snprintf(src, sizeof src, qpath_is_dir(tok_path) ? "%s/tokenizer.json" : "%s", tok_path);
        uint8_t *buf;
        size_t len;
        if (qfile_read_all(src, &buf, &len, err)) return -1;
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        int rc = write_text(path, (const char *)buf, len, err);
        free(buf);
        return rc;
    }
    int rc = 0;
    if (strcmp(v.model, "gpt2") == 0) {
        cJSON *o = cJSON_CreateObject();
        for (int32_t i = 0; i < v.n; i++)
            if (v.len[i]) cJSON_AddNumberToObject(o, v.tok[i], i);
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        snprintf(path, sizeof path, "%s/vocab.json", dir);
        rc = write_text(path, s, strlen(s), err);
        free(s);
        size_t cap = 64, n = 0;
        for (int64_t i = 0; i < v.n_merges; i++) cap += strlen(v.merges[i]) + 1;
        char *m = xmalloc(cap);
        n += (size_t)snprintf(m, cap, "#version: 0.2\n");
        for (int64_t i = 0; i < v.n_merges; i++) n += (size_t)snprintf(m + n, cap - n, "%s\n", v.merges[i]);
        snprintf(path, sizeof path, "%s/merges.txt", dir);
        if (rc == 0) rc = write_text(path, m, n, err);
        free(m);
    } else {
        /* llama2.c tokenizer.bin: i32 max length, then {f32 score, i32 len, bytes} per token,
         * pieces with spaces (not U+2581) */
        size_t cap = 4, n = 4;
        for (int32_t i = 0; i < v.n; i++) cap += 8 + (size_t)v.len[i];
        uint8_t *b = xmalloc(cap);
        int32_t maxlen = 0;
        for (int32_t i = 0; i < v.n; i++) {
            char *s = xmalloc((size_t)v.len[i] + 1);
            int32_t k = 0;
            for (int j = 0; j < v.len[i]; j++) {
                if (j + 2 < v.len[i] && memcmp(v.tok[i] + j, "\xe2\x96\x81", 3) == 0) s[k++] = ' ', j += 2;
                else s[k++] = v.tok[i][j];
            }
            float sc = v.score ? v.score[i] : 0.0f;
            memcpy(b + n, &sc, 4);
            memcpy(b + n + 4, &k, 4);
            memcpy(b + n + 8, s, (size_t)k);
            n += 8 + (size_t)k;
            maxlen = k > maxlen ? k : maxlen;
            free(s);
        }
        memcpy(b, &maxlen, 4);
        snprintf(path, sizeof path, "%s/tok%d.bin", dir, v.n);
        rc = write_text(path, (const char *)b, n, err);
        free(b);
    }
    tokenizer_vocab_free(&v);
    return rc;
}

static int export_gptq(const LlmExportSource *s, const char *dir, const LlmGgufOpts *o, LlmExportReport *r, QErr *err);

int llm_export_gptq(const LlmExportSource *s, const char *dir, const LlmGgufOpts *o, LlmExportReport *r, QErr *err) {
    /* the layout's writer takes every tensor at once: the codes are held in memory here */
    LlmExportCodes held;
    if (llm_export_codes_load(&held, s, err)) return -1;
    int rc = export_gptq(&held.src, dir, o, r, err);
    llm_export_codes_free(&held);
    return rc;
}

static int export_gptq(const LlmExportSource *s, const char *dir, const LlmGgufOpts *o, LlmExportReport *r, QErr *err) {
    memset(r, 0, sizeof *r);
    const LlmModel *m = s->m;
    const LlmConfig *c = &m->c;
    const int gpt2 = c->arch == LLM_ARCH_GPT2;
    const int64_t D = c->dim, F = c->hidden_dim, V = c->vocab_size, hs = D / c->n_heads, kvd = hs * c->n_kv_heads;
    if (!s->lin || !s->lin[0].p)
        return qerr_set(err, "%s: the model is not quantized; the GPTQ layout holds quantized linears (use --format gguf for fp32)", dir);
    const QParams *p0 = s->lin[0].p;
    int bits = p0->bits <= 2 ? 2 : p0->bits <= 4 ? 4 : 8;
    int group = p0->gran == QGRAN_GROUP ? (int)p0->group_size : -1;
    for (int l = 0; l < c->n_layers; l++) {
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears((LlmModel *)m, l, lin);
        for (int k = 0; k < nl; k++) {
            const QParams *p = s->lin[l * LLM_MAX_LINEARS + k].p;
            if (!p || p->bits != p0->bits || p->gran != p0->gran || p->group_size != p0->group_size)
                return qerr_set(err, "%s: block %d %s: every linear must share one scheme (bits, group size) in the GPTQ layout",
                                dir, l, lin[k].name);
        }
    }
    /* the FFN width padded only as far as packing needs (32/bits inputs per int32): padding
     * changes nothing numerically but the order of sums in a wider matrix product */
    int64_t align = 32 / bits;
    int64_t Fp = (F + align - 1) / align * align;
    if (D % (32 / bits) || kvd % (32 / bits))
        return qerr_set(err, "%s: the model width %lld is not a multiple of %d (%d-bit codes packed in int32)", dir, (long long)D,
                        32 / bits, bits);
    if (Fp != F)
        snprintf(r->padding, sizeof r->padding, "FFN width %lld -> %lld: zero rows of %s, zero columns of down (exact)",
                 (long long)F, (long long)Fp, gpt2 ? "c_fc" : "gate/up");
    if (qmkdir_p(dir, err)) return -1;
    Out out = {0};
    int f16 = o->f16, rc = -1;
    int64_t *pq = NULL, *pk = NULL;
    if (!gpt2 && c->rope_interleaved) {
        pq = perm_to_halves(c->n_heads, (int)hs);
        pk = perm_to_halves(c->n_kv_heads, (int)hs);
    }
    char name[256];
    const char *pre = gpt2 ? "transformer." : "model.";
    snprintf(name, sizeof name, "%s%s", pre, gpt2 ? "wte.weight" : "embed_tokens.weight");
    add_fp(&out, name, m->tok_emb, V, D, V, D, f16, 1);
    if (gpt2) add_fp(&out, "transformer.wpe.weight", m->pos_emb, c->max_seq, D, c->max_seq, D, f16, 1);
    snprintf(name, sizeof name, "%s%s", pre, gpt2 ? "ln_f.weight" : "norm.weight");
    add_fp(&out, name, m->final_norm, 1, D, 1, D, 0, 0);
    if (gpt2) add_fp(&out, "transformer.ln_f.bias", m->final_norm_b, 1, D, 1, D, 0, 0);
    if (!c->shared_head) add_fp(&out, "lm_head.weight", m->head, V, D, V, D, f16, 1);
    for (int l = 0; l < c->n_layers; l++) {
        const LlmLayer *y = &m->layers[l];
        const LlmQView *q = s->lin + (size_t)l * LLM_MAX_LINEARS;
        char b[160];
#define N(fmt) (snprintf(name, sizeof name, fmt, l), name)
#define B(fmt) (snprintf(b, sizeof b, fmt, l), b)
        if (gpt2) {
            add_fp(&out, N("transformer.h.%d.ln_1.weight"), y->attn_norm, 1, D, 1, D, 0, 0);
            add_fp(&out, N("transformer.h.%d.ln_1.bias"), y->attn_norm_b, 1, D, 1, D, 0, 0);
            add_fp(&out, N("transformer.h.%d.ln_2.weight"), y->ffn_norm, 1, D, 1, D, 0, 0);
            add_fp(&out, N("transformer.h.%d.ln_2.bias"), y->ffn_norm_b, 1, D, 1, D, 0, 0);
            Lin qkv[3] = {{q[0], D, NULL}, {q[1], kvd, NULL}, {q[2], kvd, NULL}};
            Lin po = {q[3], D, NULL}, pu = {q[4], F, NULL}, pd = {q[5], D, NULL};
            float *bias = xmalloc((size_t)(D + 2 * kvd) * sizeof(float));
            memcpy(bias, y->bq, (size_t)D * 4);
            memcpy(bias + D, y->bk, (size_t)kvd * 4);
            memcpy(bias + D + kvd, y->bv, (size_t)kvd * 4);
            add_fp(&out, N("transformer.h.%d.attn.c_attn.bias"), bias, 1, D + 2 * kvd, 1, D + 2 * kvd, 0, 0);
            free(bias);
            add_fp(&out, N("transformer.h.%d.attn.c_proj.bias"), y->bo, 1, D, 1, D, 0, 0);
            add_fp(&out, N("transformer.h.%d.mlp.c_fc.bias"), y->b_up, 1, F, 1, Fp, 0, 0);
            add_fp(&out, N("transformer.h.%d.mlp.c_proj.bias"), y->b_down, 1, D, 1, D, 0, 0);
            if (add_gptq(&out, dir, B("transformer.h.%d.attn.c_attn"), qkv, 3, D, D + 2 * kvd, D, bits, group, err) ||
                add_gptq(&out, dir, B("transformer.h.%d.attn.c_proj"), &po, 1, D, D, D, bits, group, err) ||
                add_gptq(&out, dir, B("transformer.h.%d.mlp.c_fc"), &pu, 1, D, Fp, D, bits, group, err) ||
                add_gptq(&out, dir, B("transformer.h.%d.mlp.c_proj"), &pd, 1, F, D, Fp, bits, group, err))
                goto done;
        } else {
            add_fp(&out, N("model.layers.%d.input_layernorm.weight"), y->attn_norm, 1, D, 1, D, 0, 0);
            add_fp(&out, N("model.layers.%d.post_attention_layernorm.weight"), y->ffn_norm, 1, D, 1, D, 0, 0);
            Lin lq = {q[0], D, pq}, lk = {q[1], kvd, pk}, lv = {q[2], kvd, NULL}, lo = {q[3], D, NULL};
            Lin lg = {q[4], F, NULL}, lu = {q[5], F, NULL}, ld = {q[6], D, NULL};
            if (add_gptq(&out, dir, B("model.layers.%d.self_attn.q_proj"), &lq, 1, D, D, D, bits, group, err) ||
                add_gptq(&out, dir, B("model.layers.%d.self_attn.k_proj"), &lk, 1, D, kvd, D, bits, group, err) ||
                add_gptq(&out, dir, B("model.layers.%d.self_attn.v_proj"), &lv, 1, D, kvd, D, bits, group, err) ||
                add_gptq(&out, dir, B("model.layers.%d.self_attn.o_proj"), &lo, 1, D, D, D, bits, group, err) ||
                add_gptq(&out, dir, B("model.layers.%d.mlp.gate_proj"), &lg, 1, D, Fp, D, bits, group, err) ||
                add_gptq(&out, dir, B("model.layers.%d.mlp.up_proj"), &lu, 1, D, Fp, D, bits, group, err) ||
                add_gptq(&out, dir, B("model.layers.%d.mlp.down_proj"), &ld, 1, F, D, Fp, bits, group, err))
                goto done;
        }
#undef N
#undef B
    }
    /* config.json */
    cJSON *cfg = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cJSON_CreateString(gpt2 ? "GPT2LMHeadModel" : "LlamaForCausalLM"));
    cJSON_AddItemToObject(cfg, "architectures", arr);
    cJSON_AddStringToObject(cfg, "model_type", gpt2 ? "gpt2" : "llama");
    if (gpt2) {
        cJSON_AddNumberToObject(cfg, "n_embd", (double)D);
        cJSON_AddNumberToObject(cfg, "n_layer", c->n_layers);
        cJSON_AddNumberToObject(cfg, "n_head", c->n_heads);
        cJSON_AddNumberToObject(cfg, "n_positions", c->max_seq);
        cJSON_AddNumberToObject(cfg, "n_ctx", c->max_seq);
        cJSON_AddNumberToObject(cfg, "n_inner", (double)Fp);
        cJSON_AddNumberToObject(cfg, "layer_norm_epsilon", c->norm_eps);
        cJSON_AddStringToObject(cfg, "activation_function", "gelu_new");
    } else {
        cJSON_AddNumberToObject(cfg, "hidden_size", (double)D);
        cJSON_AddNumberToObject(cfg, "intermediate_size", (double)Fp);
        cJSON_AddNumberToObject(cfg, "num_hidden_layers", c->n_layers);
        cJSON_AddNumberToObject(cfg, "num_attention_heads", c->n_heads);
        cJSON_AddNumberToObject(cfg, "num_key_value_heads", c->n_kv_heads);
        cJSON_AddNumberToObject(cfg, "max_position_embeddings", c->max_seq);
        cJSON_AddNumberToObject(cfg, "rms_norm_eps", c->norm_eps);
        cJSON_AddNumberToObject(cfg, "rope_theta", c->rope_theta);
        cJSON_AddStringToObject(cfg, "hidden_act", "silu");
        cJSON_AddBoolToObject(cfg, "tie_word_embeddings", c->shared_head);
    }
    cJSON_AddNumberToObject(cfg, "vocab_size", (double)V);
    cJSON_AddStringToObject(cfg, "torch_dtype", f16 ? "float16" : "float32");
    if (s->tok->bos_id >= 0) cJSON_AddNumberToObject(cfg, "bos_token_id", s->tok->bos_id);
    if (s->tok->eos_id >= 0) cJSON_AddNumberToObject(cfg, "eos_token_id", s->tok->eos_id);
    cJSON *qc = cJSON_CreateObject();
    cJSON_AddStringToObject(qc, "quant_method", "gptq");
    cJSON_AddNumberToObject(qc, "bits", bits);
    cJSON_AddNumberToObject(qc, "group_size", group);
    cJSON_AddBoolToObject(qc, "desc_act", 0);
    cJSON_AddBoolToObject(qc, "sym", 1);
    cJSON_AddBoolToObject(qc, "true_sequential", 1);
    cJSON_AddStringToObject(qc, "checkpoint_format", "gptq");
    cJSON_AddItemToObject(cfg, "quantization_config", qc);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    rc = qjson_write_file(path, cfg, err);
    cJSON_Delete(cfg);
    if (rc) goto done;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *mk[2] = {"format", "quantized_by"}, *mv[2] = {"pt", "quant"};
    rc = st_write(path, out.t, out.n, mk, mv, 2, err);
    if (rc == 0) rc = write_tokenizer(dir, s->tok, s->tok_path, err);
    if (rc == 0) {
        FILE *f = fopen(path, "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            r->bytes = (uint64_t)ftell(f);
            fclose(f);
        }
        r->n_tensors = out.n;
        LlmExportRow *row = &r->rows[r->n_rows++];
        snprintf(row->kind, sizeof row->kind, "linears");
        snprintf(row->type, sizeof row->type, "gptq%d", bits);
        row->count = c->n_layers * (gpt2 ? 4 : 7);
        row->exact = 1;
        row = &r->rows[r->n_rows++];
        snprintf(row->kind, sizeof row->kind, "other");
        snprintf(row->type, sizeof row->type, "%s", f16 ? "F16" : "F32");
        row->count = out.n - r->rows[0].count * 4;
        row->exact = !f16;
    }
done:
    free(pq);
    free(pk);
    for (int i = 0; i < out.nown; i++) free(out.own[i]);
    free(out.t);
    free(out.own);
    return rc;
}
