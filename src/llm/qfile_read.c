/* qfile_read.c — reading quant's quantized model files (llm_qfile.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "quant/checked.h"
#include "quant/kernels.h"
#include "quant/llm_qfile.h"
#include "quant/pack.h"
#include "quant/qblock.h"
#include "quant/qparams.h"
#include "quant/safetensors.h"

int llm_qfile_detect(const char *path) {
    size_t n = strlen(path);
    if (n < 12 || strcmp(path + n - 12, ".safetensors") != 0) return 0;
    Safetensors st;
    QErr e;
    if (st_open(&st, path, &e)) return 1; /* let the loader report what is wrong */
    const char *f = st_meta(&st, "format");
    int ours = f && strcmp(f, LLM_QFILE_FORMAT) == 0;
    st_close(&st);
    return ours;
}

static int meta_int(const Safetensors *st, const char *path, const char *key, long lo, long hi, int *out, QErr *err) {
    const char *v = st_meta(st, key);
    if (!v) return qerr_set(err, "%s: metadata '%s' is missing", path, key);
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || end == v || x < lo || x > hi) return qerr_set(err, "%s: metadata %s = '%s' is not an integer in [%ld, %ld]", path, key, v, lo, hi);
    *out = (int)x;
    return 0;
}

/* a finite number > 0 (>= 0 when zero_ok: GPT-2 files carry rope_theta 0) */
static int meta_float(const Safetensors *st, const char *path, const char *key, int zero_ok, float *out, QErr *err) {
    const char *v = st_meta(st, key);
    if (!v) return qerr_set(err, "%s: metadata '%s' is missing", path, key);
    char *end;
    double x = strtod(v, &end);
    if (*end || end == v || !isfinite(x) || !(x > 0 || (zero_ok && x == 0)))
        return qerr_set(err, "%s: metadata %s = '%s' is not a %s number", path, key, v, zero_ok ? "non-negative" : "positive");
    *out = (float)x;
    return 0;
}

/* A tensor by name with the exact dtype and element count expected. */
/* cols == 0: the tensor must be 1-D [numel]; else 2-D [numel / cols, cols]. */
static const StTensor *need(const Safetensors *st, const char *path, const char *name, StDtype dt, int64_t numel,
                            int64_t cols, QErr *err) {
    const StTensor *t = st_find(st, name);
    if (!t) {
        qerr_set(err, "%s: tensor '%s' is missing", path, name);
        return NULL;
    }
    if (t->dtype != dt) {
        qerr_set(err, "%s: tensor '%s' is %s, expected %s", path, name, st_dtype_name(t->dtype), st_dtype_name(dt));
        return NULL;
    }
    if (t->numel != numel) {
        qerr_set(err, "%s: tensor '%s' has %lld elements, the config needs %lld", path, name, (long long)t->numel,
                 (long long)numel);
        return NULL;
    }
    int shape_ok = cols == 0 ? t->ndim == 1 : (t->ndim == 2 && t->shape[1] == cols && t->shape[0] * cols == numel);
    if (!shape_ok) {
        qerr_set(err, "%s: tensor '%s' has %d dimensions / the wrong shape; expected [%lld%s%lld]", path, name, t->ndim,
                 (long long)(cols ? numel / cols : numel), cols ? ", " : "", (long long)(cols ? cols : 0));
        return NULL;
    }
    return t;
}

/* Drops bytes [p, p + n) of the (read-only) file mapping from this process once they have
 * been copied: the file stays in the page cache, but RSS holds only what the model keeps, not
 * the model twice.  Only whole pages inside the range are dropped. */
static void drop_range(const uint8_t *p, size_t n) {
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)p + pg - 1) / pg * pg, e = ((uintptr_t)p + n) / pg * pg;
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

static int read_f32(const Safetensors *st, const char *path, const char *name, int64_t numel, int64_t cols, float *dst,
                    QErr *err) {
    const StTensor *t = need(st, path, name, ST_F32, numel, cols, err);
    if (!t) return -1;
    /* in slices, so a large tensor (an embedding) is never resident twice */
    const size_t slice = (size_t)16 << 20, n = (size_t)numel * 4;
    for (size_t o = 0; o < n; o += slice) {
        size_t k = n - o < slice ? n - o : slice;
        memcpy((uint8_t *)dst + o, t->data + o, k);
        drop_range(t->data + o, k);
    }
    return q_check_finite(dst, numel, path, name, err);
}

/* The codes [rows, cols] and scales / zero-points of "<base>.qweight/.scale/.zero", checked;
 * p is initialised here (freed by the caller, also on error). */
static int read_codes(const Safetensors *st, const char *path, const char *base, int64_t rows, int64_t cols, int bits,
                      int64_t group, int merge_tail, int sym, QParams *p, int8_t *codes, QErr *err) {
    memset(p, 0, sizeof *p);
    if (qparams_init(p, bits, sym, group > 0 ? QGRAN_GROUP : QGRAN_CHANNEL, group, rows, cols, err))
        return qerr_prefix(err, "%s: %s", path, base);
    p->scale_f16 = 1;
    if (merge_tail) qparams_merge_tail(p);
    char name[160];
    snprintf(name, sizeof name, "%s.qweight", base);
    const StTensor *tq = need(st, path, name, ST_U8, (int64_t)qpack_bytes(bits, rows * cols), 0, err);
    snprintf(name, sizeof name, "%s.scale", base);
    const StTensor *ts = tq ? need(st, path, name, ST_F16, p->n, 0, err) : NULL;
    const StTensor *tz = NULL;
    if (!ts) return -1;
    if (!sym) {
        snprintf(name, sizeof name, "%s.zero", base);
        tz = need(st, path, name, ST_U8, (int64_t)qpack_bytes(bits, p->n), 0, err);
        if (!tz) return -1;
    }
    qunpack(bits, tq->data, rows * cols, codes);
    drop_range(tq->data, tq->nbytes);
    for (int64_t k = 0; k < p->n; k++) {
        uint16_t h;
        memcpy(&h, ts->data + 2 * k, 2);
        p->scale[k] = qf16_to_f32(h);
        if (p->scale[k] == 0.0f || !isfinite(p->scale[k]))
            return qerr_set(err, "%s: %s scale %lld is %g (must be finite and non-zero)", path, base, (long long)k, p->scale[k]);
    }
    if (tz) {
        int8_t *z = xmalloc((size_t)p->n);
        qunpack(bits, tz->data, p->n, z);
        for (int64_t k = 0; k < p->n; k++) p->zero[k] = z[k];
        free(z);
    }
    return 0;
}

/* Dequantizes "<base>.qweight/.scale/.zero" into w [rows, cols]. */
static int read_quant(const Safetensors *st, const char *path, const char *base, int64_t rows, int64_t cols, int bits,
                      int64_t group, int merge_tail, int sym, float *w, QErr *err) {
    QParams p;
    int8_t *codes = xmalloc((size_t)(rows * cols));
    int rc = read_codes(st, path, base, rows, cols, bits, group, merge_tail, sym, &p, codes, err);
    if (rc == 0) dequantize(&p, codes, w);
    free(codes);
    qparams_free(&p);
    return rc;
}

int llm_qfile_linear_codes(const Safetensors *st, const char *path, const char *base, int64_t rows, int64_t cols,
                           const LlmQScheme *sc, int8_t *codes, QParams *p, QErr *err) {
    if (read_codes(st, path, base, rows, cols, sc->bits, sc->group, sc->merge_tail, sc->symmetric, p, codes, err)) {
        qparams_free(p);
        return -1;
    }
    return 0;
}

/* The packed kind needs every 32-block inside one scale unit: per channel, or groups of a
 * multiple of 32 (a merged ragged tail then spans whole blocks plus the padded last one). */
static int packable(const LlmQScheme *sc) { return sc->group == 0 || sc->group % QK == 0; }

/* Whether a packed linear [rows, cols] goes in the sb16 layout (kernels.h): where the kernels
 * this CPU runs read it. */
static int packed_sb16(const LlmQScheme *sc, int64_t cols) {
    return kern_qmat_sb16_wanted(kern_qtype_for_bits(sc->bits), (int)cols, !sc->symmetric, kern_isa_best());
}

/* Bytes of one packed linear [rows, cols] (blocks, then zero-points when affine; sb16: rows
 * padded to 64 bytes), 64-aligned. */
static int64_t packed_bytes(const LlmQScheme *sc, int64_t rows, int64_t cols) {
    int64_t nb = qblock_count(cols);
    KernQMat shape = {kern_qtype_for_bits(sc->bits), (int)rows, (int)cols, (int)nb, NULL, NULL, packed_sb16(sc, cols)};
    int64_t n = rows * (int64_t)kern_qmat_row_bytes(&shape) + (sc->symmetric ? 0 : rows * nb);
    return (n + 63) / 64 * 64;
}

/* Reads "<base>.*" into blocks at mem (packed_bytes of room) and describes them in q. */
static int read_packed(const Safetensors *st, const char *path, const char *base, int64_t rows, int64_t cols,
                       const LlmQScheme *sc, uint8_t *mem, KernQMat *q, QErr *err) {
    QParams p;
    int8_t *codes = xmalloc((size_t)(rows * cols));
    if (llm_qfile_linear_codes(st, path, base, rows, cols, sc, codes, &p, err)) {
        free(codes);
        return -1;
    }
    KernQType type = kern_qtype_for_bits(sc->bits);
    int64_t nb = qblock_count(cols);
    size_t bs = kern_qtype_block_bytes(type);
    KernQMat shape = {type, (int)rows, (int)cols, (int)nb, mem, NULL, packed_sb16(sc, cols)};
    const int sb16 = shape.sb16;
    const size_t stride = kern_qmat_row_bytes(&shape);
    int8_t *zero = sc->symmetric ? NULL : (int8_t *)(mem + (size_t)rows * stride); /* after the rows (packed_bytes) */
    shape.zero = zero;
    uint8_t *row = sb16 ? xmalloc((size_t)nb * bs) : NULL; /* one row of GGUF blocks, rearranged */
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t b = 0; b < nb; b++) {
            int64_t c0 = b * QK, k = qparams_index(&p, r, c0);
            int n = cols - c0 < QK ? (int)(cols - c0) : QK;
            const int8_t *c = codes + r * cols + c0;
            uint16_t d = qf32_to_f16(p.scale[k]); /* exact: the scale came from this f16 */
            uint8_t *blk = sb16 ? row + (size_t)b * bs : mem + (size_t)(r * nb + b) * bs;
            switch (type) {
                case KERN_Q8_0: qblock_q8_0_pack(c, n, d, (QBlockQ8_0 *)blk); break;
                case KERN_Q4_0: qblock_q4_0_pack(c, n, d, (QBlockQ4_0 *)blk); break;
                case KERN_Q3: qblock_q3_pack(c, n, d, (QBlockQ3 *)blk); break;
                default: qblock_q2_pack(c, n, d, (QBlockQ2 *)blk); break;
            }
            if (zero) zero[r * nb + b] = (int8_t)p.zero[k];
        }
        if (sb16) kern_qmat_sb16_row(type, (int)nb, row, mem + (size_t)r * stride);
    }
    free(row);
    *q = shape;
    qparams_free(&p);
    free(codes);
    return 0;
}

/* The float and packed slots of linear k (llm_block_linears' order: q, k, v, o, [gate], up,
 * down). */
static void linear_slot(LlmLayer *y, int has_gate, int k, float ***w, const KernQMat ***p) {
    if (!has_gate && k >= 4) k++;
    switch (k) {
        case 0: *w = &y->wq, *p = &y->pq; break;
        case 1: *w = &y->wk, *p = &y->pk; break;
        case 2: *w = &y->wv, *p = &y->pv; break;
        case 3: *w = &y->wo, *p = &y->po; break;
        case 4: *w = &y->w_gate, *p = &y->p_gate; break;
        case 5: *w = &y->w_up, *p = &y->p_up; break;
        default: *w = &y->w_down, *p = &y->p_down; break;
    }
}

/* The scheme of every linear, as the metadata states it. */
typedef struct QfScheme {
    int bits, group, sym, emb_bits, merge_tail;
    int emb_group;   /* the embedding's groups (0: per row; groups merge their tail like the linears') */
    int head_bits;   /* an untied classifier stored quantized in groups of 32 (0: F32) */
} QfScheme;

/* An optional integer (absent: def), else as meta_int. */
static int meta_int_opt(const Safetensors *st, const char *path, const char *key, long lo, long hi, int def, int *out,
                        QErr *err) {
    if (!st_meta(st, key)) {
        *out = def;
        return 0;
    }
    return meta_int(st, path, key, lo, hi, out, err);
}

/* Format, version, the architecture and the scheme from the metadata, all checked. */
static int read_header(const Safetensors *st, const char *path, LlmConfig *c, QfScheme *q, QErr *err) {
    const char *fmt = st_meta(st, "format"), *ver = st_meta(st, "version");
    if (!fmt || strcmp(fmt, LLM_QFILE_FORMAT) != 0)
        return qerr_set(err, "%s: not a quant model file (metadata format is %s)", path, fmt ? fmt : "absent");
    if (!ver || strcmp(ver, LLM_QFILE_VERSION) != 0)
        return qerr_set(err, "%s: unsupported quant-llm version %s (this build reads %s)", path, ver ? ver : "?", LLM_QFILE_VERSION);
    int arch;
    if (meta_int(st, path, "arch", 0, 1, &arch, err) || meta_int(st, path, "dim", 1, 65536, &c->dim, err) ||
        meta_int(st, path, "hidden_dim", 1, 1 << 20, &c->hidden_dim, err) ||
        meta_int(st, path, "n_layers", 1, 1024, &c->n_layers, err) || meta_int(st, path, "n_heads", 1, 4096, &c->n_heads, err) ||
        meta_int(st, path, "n_kv_heads", 1, 4096, &c->n_kv_heads, err) ||
        meta_int(st, path, "vocab_size", 1, 1 << 22, &c->vocab_size, err) ||
        meta_int(st, path, "max_seq", 1, 1 << 20, &c->max_seq, err) ||
        meta_int(st, path, "rope_interleaved", 0, 1, &c->rope_interleaved, err) ||
        meta_int(st, path, "shared_head", 0, 1, &c->shared_head, err) || meta_float(st, path, "norm_eps", 0, &c->norm_eps, err) ||
        meta_float(st, path, "rope_theta", arch == LLM_ARCH_GPT2, &c->rope_theta, err) || meta_int(st, path, "bits", 2, 8, &q->bits, err) ||
        meta_int(st, path, "group_size", 0, 1 << 20, &q->group, err) || meta_int(st, path, "symmetric", 0, 1, &q->sym, err) ||
        meta_int(st, path, "emb_bits", 0, 8, &q->emb_bits, err) ||
        meta_int_opt(st, path, "emb_group", 0, 1 << 20, 0, &q->emb_group, err) ||
        meta_int_opt(st, path, "head_bits", 0, 8, 0, &q->head_bits, err))
        return -1;
    if (q->emb_bits == 1 || q->head_bits == 1)
        return qerr_set(err, "%s: metadata emb_bits / head_bits = 1 (expected 0 for F32 or 2..8)", path);
    if (q->head_bits > 0 && c->shared_head)
        return qerr_set(err, "%s: metadata head_bits = %d with shared_head = 1 (a tied head is stored once, as the embedding)",
                        path, q->head_bits);
    /* how a row's ragged remainder is grouped: "merged" into the last group or "split" into its
     * own (absent: split) */
    const char *tail = st_meta(st, "group_tail");
    q->merge_tail = tail && strcmp(tail, "merged") == 0;
    if (tail && !q->merge_tail && strcmp(tail, "split") != 0)
        return qerr_set(err, "%s: group_tail is \"%s\" (expected merged or split)", path, tail);
    c->arch = (LlmArch)arch;
    if (c->dim % c->n_heads || c->n_heads % c->n_kv_heads || (c->dim / c->n_heads) % 2)
        return qerr_set(err, "%s: inconsistent heads: dim %d, %d heads, %d kv heads", path, c->dim, c->n_heads, c->n_kv_heads);
    return 0;
}

/* A codes buffer [rows * cols] for "<base>", allocated only once the file is known to hold its
 * packed codes (so a hostile header cannot ask for more than its bytes justify). */
static int8_t *codes_alloc(const Safetensors *st, const char *path, const char *base, int64_t rows, int64_t cols, int bits,
                           QErr *err) {
    char name[160];
    snprintf(name, sizeof name, "%s.qweight", base);
    if (!need(st, path, name, ST_U8, (int64_t)qpack_bytes(bits, rows * cols), 0, err)) return NULL;
    return xmalloc((size_t)(rows * cols));
}

int llm_qfile_read_linear_codes(const char *path, LlmQfileLinearFn fn, void *ctx, QErr *err) {
    Safetensors st;
    if (st_open(&st, path, err)) return -1;
    LlmConfig c = {0};
    QfScheme q;
    int rc = read_header(&st, path, &c, &q, err);
    if (rc == 0 && q.emb_bits > 0) {
        QParams p = {0};
        int8_t *codes = codes_alloc(&st, path, "token_embd", c.vocab_size, c.dim, q.emb_bits, err);
        rc = !codes ? -1 : read_codes(&st, path, "token_embd", c.vocab_size, c.dim, q.emb_bits, q.emb_group, q.emb_group > 0, 1, &p, codes,
                        err);
        if (rc == 0) rc = fn(ctx, &c, "token_embd", -1, -1, &p, codes, err);
        qparams_free(&p);
        free(codes);
    }
    if (rc == 0 && q.head_bits > 0) {
        QParams p = {0};
        int8_t *codes = codes_alloc(&st, path, "output", c.vocab_size, c.dim, q.head_bits, err);
        rc = !codes ? -1 : read_codes(&st, path, "output", c.vocab_size, c.dim, q.head_bits, LLM_QFILE_HEAD_GROUP, 1, 1, &p, codes, err);
        if (rc == 0) rc = fn(ctx, &c, "output", -1, -2, &p, codes, err);
        qparams_free(&p);
        free(codes);
    }
    /* the linears' names and shapes, in llm_block_linears order */
    LlmLinearShape lin[LLM_MAX_LINEARS];
    const int nl = llm_block_shapes(&c, lin);
    for (int l = 0; l < c.n_layers && rc == 0; l++) {
        for (int k = 0, idx = 0; k < nl && rc == 0; k++) {
            char base[96];
            snprintf(base, sizeof base, "blk.%d.%s", l, lin[k].name);
            QParams p = {0};
            int8_t *codes = codes_alloc(&st, path, base, lin[k].out, lin[k].in, q.bits, err);
            rc = !codes ? -1 : read_codes(&st, path, base, lin[k].out, lin[k].in, q.bits, q.group, q.merge_tail, q.sym, &p, codes, err);
            if (rc == 0) rc = fn(ctx, &c, base, l, idx++, &p, codes, err);
            qparams_free(&p);
            free(codes);
        }
    }
    st_close(&st);
    return rc;
}

int llm_load_qfile(LlmModel *m, const char *path, QErr *err) { return llm_load_qfile_ex(m, path, 0, err); }

int llm_load_qfile_ex(LlmModel *m, const char *path, int skip_linears, QErr *err) {
    memset(m, 0, sizeof *m);
    Safetensors st;
    if (st_open(&st, path, err)) return -1;
    int rc = -1;
    LlmConfig *c = &m->c;
    QfScheme q;
    if (read_header(&st, path, c, &q, err)) goto out;
    const int bits = q.bits, group = q.group, sym = q.sym, emb_bits = q.emb_bits, merge_tail = q.merge_tail;
    int64_t D = c->dim, F = c->hidden_dim, V = c->vocab_size, L = c->n_layers, S = c->max_seq;
    int64_t kvd = D / c->n_heads * c->n_kv_heads;
    int gpt2 = c->arch == LLM_ARCH_GPT2;
    LlmQScheme sc = {bits, group, merge_tail, sym};
    /* the exporters read the codes themselves (skip_linears): nothing to pack then */
    int pack = packable(&sc) && !skip_linears;
    /* an untied classifier and its lookup-only embedding run packed too (Q8_0 blocks, rows
     * dequantized on lookup); a tied head is the embedding, kept in fp32 for the classifier */
    LlmQScheme hsc = {q.head_bits, LLM_QFILE_HEAD_GROUP, 1, 1}, esc = {emb_bits, q.emb_group, q.emb_group > 0, 1};
    /* (only beside packed linears: a model is then "packed" as a whole, llm_has_packed) */
    const int pack_head = pack && !c->shared_head && q.head_bits > 0;
    const int pack_emb = pack && !c->shared_head && emb_bits > 0 && packable(&esc);
    /* one owned buffer for all fp32 weights; the linears' own when they cannot be packed */
    int64_t lin_w = D * D * 2 + 2 * kvd * D + F * D * (gpt2 ? 2 : 3);
    int64_t per = 2 * D * (gpt2 ? 2 : 1) + (pack ? 0 : lin_w) + (gpt2 ? D + 2 * kvd + D + F + D : 0);
    int64_t total = (pack_emb ? 0 : V * D) + (c->shared_head || pack_head ? 0 : V * D) + (gpt2 ? S * D : 0) + L * per +
                    D * (gpt2 ? 2 : 1);
    /* Budget (the metadata's fields are bounded, so total fits in 64 bits): every fp32 weight
     * comes from one F32 element or from a code packed at >= 2 bits, at most 4 per U8
     * element, and the reader has checked that tensors do not overlap.  More is refused here,
     * before allocating. */
    int64_t avail = 0;
    for (int i = 0; i < st.ntensors; i++) avail += st.tensors[i].numel;
    if (total > 4 * avail) { /* (llm_carve's padding: at most 1.1 MB, n_layers <= 1024) */
        qerr_set(err, "%s: the metadata's dimensions imply %lld weights but the tensors hold at most %lld: refused "
                 "before allocating", path, (long long)total, (long long)(4 * avail));
        goto out;
    }
    KernQMat *pk_table = NULL;
    uint8_t *pk_mem = NULL;
    if (pack || pack_head || pack_emb) { /* one buffer for the packed linears: the KernQMat table, then 64-aligned blocks */
        int nlin = pack ? (gpt2 ? 6 : 7) : 0;
        int64_t head = (((int64_t)L * nlin + 2) * (int64_t)sizeof(KernQMat) + 63) / 64 * 64;
        int64_t blk = !pack ? 0
                            : packed_bytes(&sc, D, D) * 2 + packed_bytes(&sc, kvd, D) * 2 + packed_bytes(&sc, F, D) * (nlin - 4) +
                                  packed_bytes(&sc, D, F);
        int64_t extra = (pack_head ? packed_bytes(&hsc, V, D) : 0) + (pack_emb ? packed_bytes(&esc, V, D) : 0);
        /* budget as for the floats: the blocks hold the file's codes at a little more than their
         * width (Q2: 2.5 bits a weight) plus a scale per block; twice the tensors' bytes is room */
        int64_t nbytes = 0;
        for (int i = 0; i < st.ntensors; i++) nbytes += (int64_t)st.tensors[i].nbytes;
        if (head + L * blk + extra > 2 * nbytes + (1 << 20)) {
            qerr_set(err, "%s: the metadata's dimensions imply %lld bytes of packed weights but the tensors hold %lld: "
                     "refused before allocating", path, (long long)(head + L * blk + extra), (long long)nbytes);
            goto out;
        }
        m->packed = xmalloc64((size_t)(head + L * blk + extra)); /* 64-aligned rows for the kernels' loads */
        pk_table = (KernQMat *)m->packed;
        pk_mem = (uint8_t *)m->packed + head;
        m->n_packed = (int)L * nlin;
        /* the classifier and the embedding first: their KernQMat at the table's end */
        KernQMat *tail = pk_table + (int64_t)L * nlin;
        if (pack_head) {
            if (read_packed(&st, path, "output", V, D, &hsc, pk_mem, &tail[0], err)) goto out;
            pk_mem += packed_bytes(&hsc, V, D);
            m->p_head = &tail[0];
        }
        if (pack_emb) {
            if (read_packed(&st, path, "token_embd", V, D, &esc, pk_mem, &tail[1], err)) goto out;
            pk_mem += packed_bytes(&esc, V, D);
            m->p_emb = &tail[1];
        }
    }
    float *buf = xmalloc64((size_t)(total + LLM_CARVE_PAD(L)) * sizeof(float)), *w = buf; /* tensors on 64 bytes */
    m->owned = buf;
    m->layers = xcalloc((size_t)L, sizeof(LlmLayer));
#define TAKE(ptr, count) ((ptr) = llm_carve(&w, (count)))
    if (pack_emb) {
        /* rows dequantized on lookup (forward.c) */
    } else if (emb_bits > 0) {
        if (read_quant(&st, path, "token_embd", V, D, emb_bits, q.emb_group, q.emb_group > 0, 1, TAKE(m->tok_emb, V * D), err))
            goto out;
    } else if (read_f32(&st, path, "token_embd.weight", V * D, D, TAKE(m->tok_emb, V * D), err)) {
        goto out;
    }
    if (c->shared_head) m->head = m->tok_emb;
    else if (pack_head) {
        /* packed above; --kernels ref dequantizes it (llm_kernels_set) */
    } else if (q.head_bits > 0) {
        if (read_quant(&st, path, "output", V, D, q.head_bits, LLM_QFILE_HEAD_GROUP, 1, 1, TAKE(m->head, V * D), err)) goto out;
    } else if (read_f32(&st, path, "output.weight", V * D, D, TAKE(m->head, V * D), err)) {
        goto out;
    }
    if (gpt2 && read_f32(&st, path, "position_embd.weight", S * D, D, TAKE(m->pos_emb, S * D), err)) goto out;
    if (read_f32(&st, path, "output_norm.weight", D, 0, TAKE(m->final_norm, D), err)) goto out;
    if (gpt2 && read_f32(&st, path, "output_norm.bias", D, 0, TAKE(m->final_norm_b, D), err)) goto out;
    char name[160];
    for (int64_t l = 0; l < L; l++) {
        LlmLayer *y = &m->layers[l];
        snprintf(name, sizeof name, "blk.%lld.attn_norm.weight", (long long)l);
        if (read_f32(&st, path, name, D, 0, TAKE(y->attn_norm, D), err)) goto out;
        snprintf(name, sizeof name, "blk.%lld.ffn_norm.weight", (long long)l);
        if (read_f32(&st, path, name, D, 0, TAKE(y->ffn_norm, D), err)) goto out;
        if (gpt2) {
            snprintf(name, sizeof name, "blk.%lld.attn_norm.bias", (long long)l);
            if (read_f32(&st, path, name, D, 0, TAKE(y->attn_norm_b, D), err)) goto out;
            snprintf(name, sizeof name, "blk.%lld.ffn_norm.bias", (long long)l);
            if (read_f32(&st, path, name, D, 0, TAKE(y->ffn_norm_b, D), err)) goto out;
        }
        if (!pack) {
            TAKE(y->wq, D * D);
            TAKE(y->wk, kvd * D);
            TAKE(y->wv, kvd * D);
            TAKE(y->wo, D * D);
            if (!gpt2) TAKE(y->w_gate, F * D);
            TAKE(y->w_up, F * D);
            TAKE(y->w_down, D * F);
        }
        if (gpt2) {
            TAKE(y->bq, D);
            TAKE(y->bk, kvd);
            TAKE(y->bv, kvd);
            TAKE(y->bo, D);
            TAKE(y->b_up, F);
            TAKE(y->b_down, D);
        }
        LlmLinear lin[LLM_MAX_LINEARS];
        if (pack) y->w_gate = gpt2 ? NULL : (float *)1; /* placeholder so the table lists gate */
        int nl = llm_block_linears(m, (int)l, lin);
        if (pack) y->w_gate = NULL;
        for (int k = 0; k < nl; k++) {
            char base[96];
            snprintf(base, sizeof base, "blk.%lld.%s", (long long)l, lin[k].name);
            if (pack) {
                float **ws;
                const KernQMat **ps;
                linear_slot(y, !gpt2, k, &ws, &ps);
                KernQMat *q = pk_table++;
                if (read_packed(&st, path, base, lin[k].out, lin[k].in, &sc, pk_mem, q, err)) goto out;
                pk_mem += packed_bytes(&sc, lin[k].out, lin[k].in);
                *ps = q;
            } else if (!skip_linears &&
                       read_quant(&st, path, base, lin[k].out, lin[k].in, bits, group, merge_tail, sym, lin[k].w, err)) {
                goto out;
            }
            if (lin[k].b) {
                snprintf(name, sizeof name, "%s.bias", base);
                if (read_f32(&st, path, name, lin[k].out, 0, lin[k].b, err)) goto out;
            }
        }
    }
#undef TAKE
    snprintf(m->name, sizeof m->name, "%s", path);
    m->isa = (int)kern_isa_best();
    rc = 0;
out:
    st_close(&st);
    if (rc) llm_free(m);
    return rc;
}
