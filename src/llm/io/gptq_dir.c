/* gptq_dir.c — the Hugging Face GPTQ checkpoint layout (llm_gptq_dir.h): reading a quantized
 * linear for llm_load_hf, and writing quant's quantized models as such a directory. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "quant/llm_gptq_dir.h"
#include "quant/llm_qfile.h"

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
/* Streamed as the GGUF export is (gguf_export.c): a first walk over the source's quantized
 * linears checks every shape, scale and code before anything is written; the tensors are then
 * declared (their sizes follow from the model's shapes), the safetensors header written, the
 * fp32 tensors after it, and each GPTQ linear's four tensors as soon as the second walk has
 * delivered its codes.  One linear's codes are held at a time, never the model's. */

/* An output tensor: fp32 values w [rows, cols] zero-padded to [rows_pad, cols_pad] (F32, or F16
 * when f16), or one of a GPTQ linear's four (w NULL: written by the second walk). */
typedef struct OutT {
    const float *w;
    int64_t rows, cols, rows_pad, cols_pad;
    int f16;
} OutT;

/* A GPTQ linear [rows_pad, cols_pad]: its quantized parts stacked (GPT-2's fused q|k|v). */
typedef struct GLin {
    int np, got;
    int slot[3];
    int64_t rows[3];
    const int64_t *row_map[3]; /* output row t of a part takes the part's source row row_map[t], or NULL */
    int64_t cols, rows_pad, cols_pad;
    char base[160];
    uint32_t *qw;              /* [cols_pad / k, rows_pad], filled as its parts arrive */
    uint16_t *sc;              /* [groups, rows_pad] */
} GLin;

typedef struct Ex {
    const LlmExportSource *s;
    const char *dir;
    QErr *err;
    int bits, group;           /* the layout's, from the first linear (bits 0 before it) */
    int p0_bits;
    QGranularity p0_gran;
    int64_t p0_group;
    int n_slots;               /* layer * LLM_MAX_LINEARS + index */
    unsigned char *seen;       /* [n_slots] */
    int *slot_lin, *slot_part; /* [n_slots] the linear and part a slot fills */
    GLin *lin;
    int nl;
    StWriteTensor *t;
    OutT *o;
    int nt, cap;
    QWriter w;
    int next;                  /* the linear the second walk fills */
} Ex;

/* The source's quantized linears one at a time, in slot order (llm_export_walk).  The
 * embedding's and a classifier's codes are passed over: the layout quantizes linears only, and
 * writes those two from the model's fp32 values. */
typedef int (*SlotFn)(Ex *x, int slot, const char *name, const QParams *p, const int8_t *codes);
typedef struct WalkCtx {
    Ex *x;
    SlotFn fn;
} WalkCtx;

static int linears_only(void *ctx, int slot, const char *name, const QParams *p, const int8_t *codes) {
    WalkCtx *wc = ctx;
    return slot < wc->x->n_slots ? wc->fn(wc->x, slot, name, p, codes) : 0;
}

static int walk(Ex *x, SlotFn fn) {
    WalkCtx wc = {x, fn};
    return llm_export_walk(x->s, linears_only, &wc, x->err);
}

/* first walk: the scheme (every linear shares the first's), shapes, float16 scales, code
 * ranges, and every GPTQ group inside one of quant's scale units */
static int check_fn(Ex *x, int slot, const char *name, const QParams *p, const int8_t *codes) {
    LlmLinear lin[LLM_MAX_LINEARS];
    int nl = llm_block_linears((LlmModel *)x->s->m, slot / LLM_MAX_LINEARS, lin), k = slot % LLM_MAX_LINEARS;
    if (k >= nl || p->rows != lin[k].out || p->cols != lin[k].in)
        return qerr_set(x->err, "%s: %s is [%lld, %lld], not a linear of the model", x->dir, name, (long long)p->rows,
                        (long long)p->cols);
    if (!x->bits) {
        x->p0_bits = p->bits;
        x->p0_gran = p->gran;
        x->p0_group = p->group_size;
        x->bits = p->bits <= 2 ? 2 : p->bits <= 4 ? 4 : 8;
        x->group = p->gran == QGRAN_GROUP ? (int)p->group_size : -1;
    }
    if (p->bits != x->p0_bits || p->gran != x->p0_gran || p->group_size != x->p0_group)
        return qerr_set(x->err, "%s: block %d %s: every linear must share one scheme (bits, group size) in the GPTQ layout",
                        x->dir, slot / LLM_MAX_LINEARS, lin[k].name);
    if (!p->symmetric)
        return qerr_set(x->err, "%s: %s is affine; quant writes the GPTQ layout for symmetric codes only", x->dir, name);
    const int bits = x->bits, group = x->group, half = 1 << (bits - 1);
    for (int64_t c = 0; c < p->cols; c++) {
        int64_t g0 = group > 0 ? c / group * group : 0;
        if (qparams_index(p, 0, c) != qparams_index(p, 0, g0))
            return qerr_set(x->err, "%s: %s: column %lld is in another scale group than column %lld; re-quantize with "
                            "--group-size %d (or export with the matching group size)", x->dir, name, (long long)c,
                            (long long)g0, group);
    }
    for (int64_t i = 0; i < p->n; i++)
        if (qf16_to_f32(qf32_to_f16(p->scale[i])) != p->scale[i])
            return qerr_set(x->err, "%s: %s: scale %lld (%g) is not a float16; the layout stores float16 scales", x->dir,
                            name, (long long)i, p->scale[i]);
    for (int64_t i = 0; i < p->rows * p->cols; i++)
        if (codes[i] < -half + (bits == 8) || codes[i] >= half)
            return qerr_set(x->err, "%s: %s: code %d outside the %d-bit range", x->dir, name, codes[i], bits);
    x->seen[slot] = 1;
    return 0;
}

static void declare(Ex *x, const char *name, StDtype dt, int64_t d0, int64_t d1, const OutT *o) {
    if (x->nt == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 64;
        x->t = xrealloc(x->t, (size_t)x->cap * sizeof *x->t);
        x->o = xrealloc(x->o, (size_t)x->cap * sizeof *x->o);
    }
    StWriteTensor *t = &x->t[x->nt];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->dtype = dt;
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    x->o[x->nt++] = *o;
}

/* fp32 values [rows, cols] zero-padded to [rows_pad, cols_pad], as F32 or F16; two_d: a matrix */
static void add_fp(Ex *x, const char *name, const float *w, int64_t rows, int64_t cols, int64_t rows_pad, int64_t cols_pad,
                   int f16, int two_d) {
    OutT o = {w, rows, cols, rows_pad, cols_pad, f16};
    declare(x, name, f16 ? ST_F16 : ST_F32, two_d ? rows_pad : cols_pad, two_d ? cols_pad : 0, &o);
}

/* A GPTQ linear of the stacked parts (slot, rows, row_map), np of them, [rows_pad, cols_pad]:
 * its four tensors declared. */
static void add_gptq(Ex *x, const char *base, const int *slot, const int64_t *rows, const int64_t *const *row_map, int np,
                     int64_t cols, int64_t rows_pad, int64_t cols_pad) {
    const int k = 32 / x->bits;
    int64_t groups = x->group > 0 ? (cols_pad + x->group - 1) / x->group : 1;
    GLin *g = &x->lin[x->nl];
    memset(g, 0, sizeof *g);
    g->np = np;
    for (int i = 0; i < np; i++) {
        g->slot[i] = slot[i];
        g->rows[i] = rows[i];
        g->row_map[i] = row_map[i];
        x->slot_lin[slot[i]] = x->nl;
        x->slot_part[slot[i]] = i;
    }
    g->cols = cols;
    g->rows_pad = rows_pad;
    g->cols_pad = cols_pad;
    snprintf(g->base, sizeof g->base, "%s", base);
    x->nl++;
    char name[300];
    const OutT none = {0};
    snprintf(name, sizeof name, "%s.qweight", base);
    declare(x, name, ST_I32, cols_pad / k, rows_pad, &none);
    snprintf(name, sizeof name, "%s.qzeros", base);
    declare(x, name, ST_I32, groups, rows_pad / k, &none);
    snprintf(name, sizeof name, "%s.scales", base);
    declare(x, name, ST_F16, groups, rows_pad, &none);
    snprintf(name, sizeof name, "%s.g_idx", base);
    declare(x, name, ST_I32, cols_pad, 0, &none);
}

/* an fp32 tensor's bytes, a row at a time */
static int put_fp(Ex *x, const OutT *o) {
    const size_t es = o->f16 ? 2 : 4;
    uint8_t *row = xcalloc((size_t)o->cols_pad, es);
    int rc = 0;
    for (int64_t r = 0; r < o->rows_pad && rc == 0; r++) {
        if (r < o->rows)
            for (int64_t c = 0; c < o->cols; c++) {
                float v = o->w[r * o->cols + c];
                if (o->f16) {
                    uint16_t h = qf32_to_f16(v);
                    memcpy(row + 2 * c, &h, 2);
                } else {
                    memcpy(row + 4 * c, &v, 4);
                }
            }
        else memset(row, 0, (size_t)o->cols_pad * es);
        rc = qwriter_write(&x->w, row, (size_t)o->cols_pad * es, x->err);
    }
    free(row);
    return rc;
}

/* second walk: each part's codes and scales packed into its linear; the linear's four tensors
 * written as soon as its last part is in (the parts of one linear are consecutive slots) */
static int write_fn(Ex *x, int slot, const char *name, const QParams *p, const int8_t *codes) {
    const int bits = x->bits, k = 32 / bits, half = 1 << (bits - 1), group = x->group;
    const uint32_t mask = (1u << bits) - 1;
    int li = x->slot_lin[slot];
    if (li != x->next) return qerr_set(x->err, "%s: %s: the codes arrive out of the declared order", x->dir, name);
    GLin *g = &x->lin[li];
    const int64_t groups = group > 0 ? (g->cols_pad + group - 1) / group : 1, words = g->cols_pad / k;
    if (!g->qw) {
        g->qw = xmalloc((size_t)(words * g->rows_pad) * 4);
        g->sc = xcalloc((size_t)(groups * g->rows_pad), 2);
    }
    int part = x->slot_part[slot];
    int64_t r = 0;
    for (int i = 0; i < part; i++) r += g->rows[i];
    for (int64_t t = 0; t < g->rows[part]; t++, r++) {
        int64_t src = g->row_map[part] ? g->row_map[part][t] : t;
        const int8_t *row = codes + src * g->cols;
        for (int64_t wi = 0; wi < words; wi++) { /* codes u = q + half, k to a word along the input */
            uint32_t word = 0;
            for (int j = 0; j < k; j++) {
                int64_t c = wi * k + j;
                int code = c < g->cols ? row[c] : 0;
                word |= ((uint32_t)(code + half) & mask) << (bits * j);
            }
            g->qw[wi * g->rows_pad + r] = word;
        }
        for (int64_t gg = 0; gg < groups; gg++) {
            int64_t c0 = gg * (group > 0 ? group : 0);
            g->sc[gg * g->rows_pad + r] = qf32_to_f16(p->scale[qparams_index(p, src, c0 < g->cols ? c0 : g->cols - 1)]);
        }
    }
    if (++g->got < g->np) return 0;
    /* padding rows: code 0 (stored as half) so they dequantize to 0; their scales stay 0 */
    uint32_t pad = 0;
    for (int j = 0; j < k; j++) pad |= ((uint32_t)half & mask) << (bits * j);
    for (; r < g->rows_pad; r++)
        for (int64_t wi = 0; wi < words; wi++) g->qw[wi * g->rows_pad + r] = pad;
    /* qzeros in the v1 convention (zero - 1 = half - 1 for symmetric codes); g_idx: group of each input */
    uint32_t zword = 0;
    for (int j = 0; j < k; j++) zword |= (uint32_t)(half - 1) << (bits * j);
    const int64_t nz = groups * g->rows_pad / k;
    uint32_t *qz = xmalloc((size_t)nz * 4);
    for (int64_t i = 0; i < nz; i++) qz[i] = zword;
    int32_t *gi = xmalloc((size_t)g->cols_pad * 4);
    for (int64_t i = 0; i < g->cols_pad; i++) gi[i] = group > 0 ? (int32_t)(i / group) : 0;
    int rc = qwriter_write(&x->w, g->qw, (size_t)(words * g->rows_pad) * 4, x->err);
    if (rc == 0) rc = qwriter_write(&x->w, qz, (size_t)nz * 4, x->err);
    if (rc == 0) rc = qwriter_write(&x->w, g->sc, (size_t)(groups * g->rows_pad) * 2, x->err);
    if (rc == 0) rc = qwriter_write(&x->w, gi, (size_t)g->cols_pad * 4, x->err);
    free(qz);
    free(gi);
    free(g->qw);
    free(g->sc);
    g->qw = NULL;
    g->sc = NULL;
    x->next++;
    return rc;
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

/* the config.json of the layout */
static cJSON *config_json(const LlmExportSource *s, int64_t Fp, int bits, int group, int f16) {
    const LlmConfig *c = &s->m->c;
    const int gpt2 = c->arch == LLM_ARCH_GPT2;
    cJSON *cfg = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cJSON_CreateString(gpt2 ? "GPT2LMHeadModel" : "LlamaForCausalLM"));
    cJSON_AddItemToObject(cfg, "architectures", arr);
    cJSON_AddStringToObject(cfg, "model_type", gpt2 ? "gpt2" : "llama");
    if (gpt2) {
        cJSON_AddNumberToObject(cfg, "n_embd", (double)c->dim);
        cJSON_AddNumberToObject(cfg, "n_layer", c->n_layers);
        cJSON_AddNumberToObject(cfg, "n_head", c->n_heads);
        cJSON_AddNumberToObject(cfg, "n_positions", c->max_seq);
        cJSON_AddNumberToObject(cfg, "n_ctx", c->max_seq);
        cJSON_AddNumberToObject(cfg, "n_inner", (double)Fp);
        cJSON_AddNumberToObject(cfg, "layer_norm_epsilon", c->norm_eps);
        cJSON_AddStringToObject(cfg, "activation_function", "gelu_new");
    } else {
        cJSON_AddNumberToObject(cfg, "hidden_size", (double)c->dim);
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
    cJSON_AddNumberToObject(cfg, "vocab_size", (double)c->vocab_size);
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
    return cfg;
}

int llm_export_gptq(const LlmExportSource *s, const char *dir, const LlmGgufOpts *o, LlmExportReport *r, QErr *err) {
    memset(r, 0, sizeof *r);
    const LlmModel *m = s->m;
    const LlmConfig *c = &m->c;
    const int gpt2 = c->arch == LLM_ARCH_GPT2;
    const int64_t D = c->dim, F = c->hidden_dim, V = c->vocab_size, hs = D / c->n_heads, kvd = hs * c->n_kv_heads;
    if (!s->qfile && !s->lin)
        return qerr_set(err, "%s: the model is not quantized; the GPTQ layout holds quantized linears (use --format gguf for fp32)", dir);
    Ex x = {.s = s, .dir = dir, .err = err, .n_slots = c->n_layers * LLM_MAX_LINEARS};
    x.seen = xcalloc((size_t)x.n_slots, 1);
    x.slot_lin = xmalloc((size_t)x.n_slots * sizeof(int));
    x.slot_part = xmalloc((size_t)x.n_slots * sizeof(int));
    x.lin = xcalloc((size_t)x.n_slots, sizeof *x.lin);
    int rc = -1, open = 0;
    int64_t *pq = NULL, *pk = NULL;
    /* first walk: every check before anything is written */
    if (walk(&x, check_fn)) goto done;
    for (int l = 0; l < c->n_layers; l++) {
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears((LlmModel *)m, l, lin);
        for (int k = 0; k < nl; k++)
            if (!x.seen[l * LLM_MAX_LINEARS + k]) {
                qerr_set(err, x.bits ? "%s: block %d %s is not quantized; the GPTQ layout needs every linear quantized"
                                     : "%s: the model is not quantized (block %d %s); the GPTQ layout holds quantized "
                                       "linears (use --format gguf for fp32)", dir, l, lin[k].name);
                goto done;
            }
    }
    const int bits = x.bits, group = x.group;
    /* the FFN width padded only as far as packing needs (32/bits inputs per int32): padding
     * changes nothing numerically but the order of sums in a wider matrix product */
    int64_t align = 32 / bits;
    int64_t Fp = (F + align - 1) / align * align;
    if (D % (32 / bits) || kvd % (32 / bits)) {
        qerr_set(err, "%s: the model width %lld is not a multiple of %d (%d-bit codes packed in int32)", dir, (long long)D,
                 32 / bits, bits);
        goto done;
    }
    if (Fp != F)
        snprintf(r->padding, sizeof r->padding, "FFN width %lld -> %lld: zero rows of %s, zero columns of down (exact)",
                 (long long)F, (long long)Fp, gpt2 ? "c_fc" : "gate/up");
    const int f16 = o->f16;
    if (!gpt2 && c->rope_interleaved) {
        pq = perm_to_halves(c->n_heads, (int)hs);
        pk = perm_to_halves(c->n_kv_heads, (int)hs);
    }
    /* the tensors: fp32 ones first, then the linears in slot order (the walk's) */
    char name[256];
    const char *pre = gpt2 ? "transformer." : "model.";
    snprintf(name, sizeof name, "%s%s", pre, gpt2 ? "wte.weight" : "embed_tokens.weight");
    add_fp(&x, name, m->tok_emb, V, D, V, D, f16, 1);
    if (gpt2) add_fp(&x, "transformer.wpe.weight", m->pos_emb, c->max_seq, D, c->max_seq, D, f16, 1);
    snprintf(name, sizeof name, "%s%s", pre, gpt2 ? "ln_f.weight" : "norm.weight");
    add_fp(&x, name, m->final_norm, 1, D, 1, D, 0, 0);
    if (gpt2) add_fp(&x, "transformer.ln_f.bias", m->final_norm_b, 1, D, 1, D, 0, 0);
    if (!c->shared_head) add_fp(&x, "lm_head.weight", m->head, V, D, V, D, f16, 1);
    float **bias = gpt2 ? xcalloc((size_t)c->n_layers, sizeof *bias) : NULL;
#define N(fmt) (snprintf(name, sizeof name, fmt, l), name)
    for (int l = 0; l < c->n_layers; l++) {
        const LlmLayer *y = &m->layers[l];
        if (gpt2) {
            add_fp(&x, N("transformer.h.%d.ln_1.weight"), y->attn_norm, 1, D, 1, D, 0, 0);
            add_fp(&x, N("transformer.h.%d.ln_1.bias"), y->attn_norm_b, 1, D, 1, D, 0, 0);
            add_fp(&x, N("transformer.h.%d.ln_2.weight"), y->ffn_norm, 1, D, 1, D, 0, 0);
            add_fp(&x, N("transformer.h.%d.ln_2.bias"), y->ffn_norm_b, 1, D, 1, D, 0, 0);
            float *b = bias[l] = xmalloc((size_t)(D + 2 * kvd) * sizeof(float));
            memcpy(b, y->bq, (size_t)D * 4);
            memcpy(b + D, y->bk, (size_t)kvd * 4);
            memcpy(b + D + kvd, y->bv, (size_t)kvd * 4);
            add_fp(&x, N("transformer.h.%d.attn.c_attn.bias"), b, 1, D + 2 * kvd, 1, D + 2 * kvd, 0, 0);
            add_fp(&x, N("transformer.h.%d.attn.c_proj.bias"), y->bo, 1, D, 1, D, 0, 0);
            add_fp(&x, N("transformer.h.%d.mlp.c_fc.bias"), y->b_up, 1, F, 1, Fp, 0, 0);
            add_fp(&x, N("transformer.h.%d.mlp.c_proj.bias"), y->b_down, 1, D, 1, D, 0, 0);
        } else {
            add_fp(&x, N("model.layers.%d.input_layernorm.weight"), y->attn_norm, 1, D, 1, D, 0, 0);
            add_fp(&x, N("model.layers.%d.post_attention_layernorm.weight"), y->ffn_norm, 1, D, 1, D, 0, 0);
        }
    }
    const int n_fp = x.nt;
    const int64_t *none[3] = {NULL, NULL, NULL};
    for (int l = 0; l < c->n_layers; l++) {
        const int q0 = l * LLM_MAX_LINEARS;
        if (gpt2) {
            const int qkv[3] = {q0, q0 + 1, q0 + 2};
            const int64_t rq[3] = {D, kvd, kvd};
            add_gptq(&x, N("transformer.h.%d.attn.c_attn"), qkv, rq, none, 3, D, D + 2 * kvd, D);
            add_gptq(&x, N("transformer.h.%d.attn.c_proj"), (int[]){q0 + 3}, &D, none, 1, D, D, D);
            add_gptq(&x, N("transformer.h.%d.mlp.c_fc"), (int[]){q0 + 4}, &F, none, 1, D, Fp, D);
            add_gptq(&x, N("transformer.h.%d.mlp.c_proj"), (int[]){q0 + 5}, &D, none, 1, F, D, Fp);
        } else {
            const int64_t *mq[1] = {pq}, *mk[1] = {pk};
            add_gptq(&x, N("model.layers.%d.self_attn.q_proj"), (int[]){q0}, &D, mq, 1, D, D, D);
            add_gptq(&x, N("model.layers.%d.self_attn.k_proj"), (int[]){q0 + 1}, &kvd, mk, 1, D, kvd, D);
            add_gptq(&x, N("model.layers.%d.self_attn.v_proj"), (int[]){q0 + 2}, &kvd, none, 1, D, kvd, D);
            add_gptq(&x, N("model.layers.%d.self_attn.o_proj"), (int[]){q0 + 3}, &D, none, 1, D, D, D);
            add_gptq(&x, N("model.layers.%d.mlp.gate_proj"), (int[]){q0 + 4}, &F, none, 1, D, Fp, D);
            add_gptq(&x, N("model.layers.%d.mlp.up_proj"), (int[]){q0 + 5}, &F, none, 1, D, Fp, D);
            add_gptq(&x, N("model.layers.%d.mlp.down_proj"), (int[]){q0 + 6}, &D, none, 1, F, D, Fp);
        }
    }
#undef N
    /* model.safetensors: header, fp32 tensors, then the linears as the second walk yields them */
    if (qmkdir_p(dir, err)) goto free_bias;
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *mk[2] = {"format", "quantized_by"}, *mv[2] = {"pt", "quant"};
    if (qwriter_open(&x.w, path, err)) goto free_bias;
    open = 1;
    if (st_write_header(&x.w, x.t, x.nt, mk, mv, 2, err)) goto free_bias;
    for (int i = 0; i < n_fp; i++)
        if (put_fp(&x, &x.o[i])) goto free_bias;
    if (walk(&x, write_fn)) goto free_bias;
    if (x.next != x.nl) {
        qerr_set(err, "%s: %d linears declared, %d written", dir, x.nl, x.next);
        goto free_bias;
    }
    open = 0;
    if (qwriter_commit(&x.w, err)) goto free_bias;
    cJSON *cfg = config_json(s, Fp, bits, group, f16);
    snprintf(path, sizeof path, "%s/config.json", dir);
    rc = qjson_write_file(path, cfg, err);
    cJSON_Delete(cfg);
    if (rc == 0) rc = write_tokenizer(dir, s->tok, s->tok_path, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        FILE *f = fopen(path, "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            r->bytes = (uint64_t)ftell(f);
            fclose(f);
        }
        r->n_tensors = x.nt;
        LlmExportRow *row = &r->rows[r->n_rows++];
        snprintf(row->kind, sizeof row->kind, "linears");
        snprintf(row->type, sizeof row->type, "gptq%d", bits);
        row->count = x.nl;
        row->exact = 1;
        row = &r->rows[r->n_rows++];
        snprintf(row->kind, sizeof row->kind, "other");
        snprintf(row->type, sizeof row->type, "%s", f16 ? "F16" : "F32");
        row->count = n_fp;
        row->exact = !f16;
    }
free_bias:
    for (int l = 0; bias && l < c->n_layers; l++) free(bias[l]);
    free(bias);
done:
    if (open) qwriter_abort(&x.w);
    free(pq);
    free(pk);
    for (int i = 0; i < x.nl; i++) {
        free(x.lin[i].qw);
        free(x.lin[i].sc);
    }
    for (int i = 0; i < x.nt; i++) free((void *)x.t[i].name);
    free(x.t);
    free(x.o);
    free(x.lin);
    free(x.seen);
    free(x.slot_lin);
    free(x.slot_part);
    return rc;
}
