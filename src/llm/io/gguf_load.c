/* gguf_load.c — GGUF files (llama and gpt2 architectures) into an LlmModel, and the
 * tokenizer from their tokenizer.ggml.* metadata (llm_gguf.h).  Every tensor is checked
 * against the shape the metadata implies before it is read.  Q4_0, Q8_0, Q4_K and Q6_K linears
 * (and an untied classifier and embedding of those types beside them) stay packed for the
 * integer kernels, as a quant-llm file's do (qfile_read.c); every other type is widened to fp32
 * with qblock.h's reference dequantizers.  Non-finite weights and block scales are refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/kernels.h"
#include "quant/llm_gguf.h"
#include "quant/qblock.h"

/* tensor `name`, checked to be [rows, cols] (cols innermost; rows == 0: 1-D of cols) */
static const GgufTensor *shaped(const Gguf *g, const char *name, int64_t rows, int64_t cols, QErr *err) {
    const GgufTensor *t = gguf_tensor(g, name);
    if (!t) {
        qerr_set(err, "%s: tensor %s is missing", g->path, name);
        return NULL;
    }
    int ok = rows == 0 ? (t->n_dims == 1 && t->ne[0] == cols)
                       : (t->n_dims == 2 && t->ne[0] == cols && t->ne[1] == rows);
    if (!ok) {
        qerr_set(err, "%s: tensor %s has shape [%lld, %lld] (innermost first), the metadata implies [%lld, %lld]", g->path,
                 name, (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1), (long long)cols, (long long)(rows ? rows : 1));
        return NULL;
    }
    return t;
}

/* tensor `name` [rows, cols] widened into dst */
static int get(const Gguf *g, const char *name, int64_t rows, int64_t cols, float *dst, int *quantized, QErr *err) {
    const GgufTensor *t = shaped(g, name, rows, cols, err);
    if (!t) return -1;
    int64_t n = t->nelem;
    const uint8_t *p = t->data;
    switch (t->type) {
        case GGML_TYPE_F32: memcpy(dst, p, (size_t)n * 4); break;
        case GGML_TYPE_F16:
        case GGML_TYPE_BF16:
            for (int64_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, p + 2 * i, 2);
                dst[i] = t->type == GGML_TYPE_F16 ? qf16_to_f32(h) : qbf16_to_f32(h);
            }
            break;
        case GGML_TYPE_Q4_0:
        case GGML_TYPE_Q8_0: {
            /* blocks may sit at any byte offset in the map: copy each row's blocks out first */
            int64_t r = n / t->ne[0], nb = t->ne[0] / QK, bb = t->type == GGML_TYPE_Q4_0 ? 18 : 34;
            void *row = xmalloc((size_t)(nb * bb));
            for (int64_t i = 0; i < r; i++) {
                memcpy(row, p + i * nb * bb, (size_t)(nb * bb));
                if (t->type == GGML_TYPE_Q4_0) qblock_q4_0_dequant_row(row, t->ne[0], dst + i * t->ne[0]);
                else qblock_q8_0_dequant_row(row, t->ne[0], dst + i * t->ne[0]);
            }
            free(row);
            *quantized = 1;
            break;
        }
        case GGML_TYPE_Q4_1:
            /* 20-byte blocks: f16 d, f16 m, 16 bytes of nibbles (low = j, high = j + 16); w = d q + m */
            for (int64_t b = 0; b < n / QK; b++) {
                const uint8_t *q = p + b * 20;
                uint16_t hd, hm;
                memcpy(&hd, q, 2);
                memcpy(&hm, q + 2, 2);
                float d = qf16_to_f32(hd), m = qf16_to_f32(hm);
                for (int j = 0; j < QK / 2; j++) {
                    dst[b * QK + j] = d * (float)(q[4 + j] & 15) + m;
                    dst[b * QK + j + QK / 2] = d * (float)(q[4 + j] >> 4) + m;
                }
            }
            *quantized = 1;
            break;
        case GGML_TYPE_Q5_0:
        case GGML_TYPE_Q5_1: {
            /* 22-byte (Q5_0: f16 d) or 24-byte (Q5_1: f16 d, f16 m) blocks, then 4 bytes holding
             * the fifth bit of the 32 codes (bit j of the little-endian word: code j), then 16
             * bytes of low nibbles (low = j, high = j + 16); Q5_0: w = d (q - 16), Q5_1: w = d q + m */
            const int q51 = t->type == GGML_TYPE_Q5_1, bb = q51 ? 24 : 22;
            for (int64_t b = 0; b < n / QK; b++) {
                const uint8_t *q = p + b * bb;
                uint16_t hd, hm = 0;
                memcpy(&hd, q, 2);
                if (q51) memcpy(&hm, q + 2, 2);
                const uint8_t *hb = q + (q51 ? 4 : 2), *qs = hb + 4;
                uint32_t hi = (uint32_t)hb[0] | (uint32_t)hb[1] << 8 | (uint32_t)hb[2] << 16 | (uint32_t)hb[3] << 24;
                float d = qf16_to_f32(hd), m = q51 ? qf16_to_f32(hm) : -16.0f * d;
                for (int j = 0; j < QK / 2; j++) {
                    int lo = (qs[j] & 15) | (int)((hi >> j) & 1) << 4, up = (qs[j] >> 4) | (int)((hi >> (j + 16)) & 1) << 4;
                    dst[b * QK + j] = d * (float)lo + m;
                    dst[b * QK + j + QK / 2] = d * (float)up + m;
                }
            }
            *quantized = 1;
            break;
        }
        case GGML_TYPE_Q2_K:
        case GGML_TYPE_Q3_K:
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q5_K:
        case GGML_TYPE_Q6_K:
            ggml_dequant_k(t->type, p, n, dst); /* llama-quantize's superblocks (qblock_k.c) */
            *quantized = 1;
            break;
        default: return qerr_set(err, "%s: tensor %s: ggml type %u is not read", g->path, name, t->type);
    }
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            return qerr_set(err, "%s: tensor %s: element %lld is not a finite number", g->path, name, (long long)i);
    return 0;
}

static int key_u32(const Gguf *g, const char *arch, const char *k, uint32_t lo, uint32_t hi, int *out, QErr *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, k);
    uint32_t v;
    if (gguf_get_u32(g, key, &v, err)) return -1;
    if (v < lo || v > hi) return qerr_set(err, "%s: metadata %s = %u, expected %u..%u", g->path, key, v, lo, hi);
    *out = (int)v;
    return 0;
}

/* ------------------------------------------------------------ packed tensors */
/* Where the packed tensors go: the next KernQMat of the table and the next 64-aligned bytes. */
typedef struct Packer {
    KernQMat *table;
    uint8_t *mem;
    int isa;
    int widen; /* 1: nothing packed (llm_load_gguf_fp32) */
} Packer;

/* The kernel type a packable ggml type runs as (-1: widened). */
static int packed_type(uint32_t ggml) {
    switch (ggml) {
        case GGML_TYPE_Q4_0: return KERN_Q4_0;
        case GGML_TYPE_Q8_0: return KERN_Q8_0;
        case GGML_TYPE_Q4_K: return KERN_Q4_K;
        case GGML_TYPE_Q6_K: return KERN_Q6_K;
        default: return -1;
    }
}

/* Whether tensor `name` runs packed: a 2-D Q4_0, Q8_0, Q4_K or Q6_K tensor (its shape is checked
 * when it is read; a K type's rows are whole superblocks, as the reader checked), unless
 * everything is widened. */
static int packable(const Packer *pk, const Gguf *g, const char *name) {
    const GgufTensor *t = gguf_tensor(g, name);
    return !pk->widen && t && t->n_dims == 2 && packed_type(t->type) >= 0 && t->ne[0] % QK == 0;
}

/* `rows` rows of the packable tensor t as packed here, blocks not yet placed: in sb16 where the
 * kernels read it (an embedding, only looked up, stays in the GGUF order; K types always do). */
static KernQMat packed_shape(const GgufTensor *t, int64_t rows, int lookup, int isa) {
    const KernQType type = (KernQType)packed_type(t->type);
    return (KernQMat){type, (int)rows, (int)t->ne[0], (int)(t->ne[0] / QK), NULL, NULL,
                      !lookup && kern_qmat_sb16_wanted(type, (int)t->ne[0], 0, (KernIsa)isa)};
}

/* Where block (or K superblock) b of a row of t keeps its f16 scales: one (Q4_0, Q8_0: at 0;
 * Q6_K: at 208) or two (Q4_K: d at 0, dmin at 2); returns their count. */
static int scale_offsets(uint32_t ggml, size_t off[2]) {
    off[0] = ggml == GGML_TYPE_Q6_K ? 208 : 0;
    off[1] = 2;
    return ggml == GGML_TYPE_Q4_K ? 2 : 1;
}

/* The bytes such rows take, 64-aligned. */
static int64_t packed_size(const Gguf *g, const char *name, int64_t rows, int lookup, int isa) {
    const KernQMat q = packed_shape(gguf_tensor(g, name), rows, lookup, isa);
    return (rows * (int64_t)kern_qmat_row_bytes(&q) + 63) / 64 * 64;
}

/* Rows [r0, r0 + rows) of the packable tensor t (its shape checked) as the packer's next
 * KernQMat: the GGUF blocks as they are, or their sb16 rows.  Every block's (or superblock's)
 * f16 scales must be finite (the codes are finite by construction). */
static const KernQMat *pack_rows(const Gguf *g, const GgufTensor *t, int64_t r0, int64_t rows, int lookup, Packer *pk,
                                 QErr *err) {
    KernQMat *q = pk->table++;
    *q = packed_shape(t, rows, lookup, pk->isa);
    q->blocks = pk->mem;
    const KernQType type = q->type;
    const int64_t nb = kern_qtype_is_k(type) ? q->K / QK_K : q->nb; /* blocks in the file's row */
    const size_t bs = kern_qtype_block_bytes(type), stride = kern_qmat_row_bytes(q), frow = (size_t)nb * bs;
    size_t off[2];
    const int nsc = scale_offsets(t->type, off);
    int64_t done = 0; /* rows whose file pages were released */
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *src = t->data + (size_t)(r0 + r) * frow;
        for (int64_t b = 0; b < nb; b++)
            for (int k = 0; k < nsc; k++) {
                uint16_t h;
                memcpy(&h, src + b * bs + off[k], 2);
                if (!isfinite(qf16_to_f32(h))) {
                    qerr_set(err, "%s: tensor %s: row %lld, block %lld has a non-finite scale", g->path, t->name,
                             (long long)(r0 + r), (long long)b);
                    return NULL;
                }
            }
        if (q->sb16) kern_qmat_sb16_row(type, (int)nb, src, pk->mem + (size_t)r * stride);
        else memcpy(pk->mem + (size_t)r * stride, src, frow);
        if (r + 1 - done == 256 || r + 1 == rows) { /* copied: these rows' pages leave RSS (not the page cache) */
            qmap_release(t->data + (size_t)(r0 + done) * frow, (size_t)(r + 1 - done) * frow);
            done = r + 1;
        }
    }
    pk->mem += (rows * (int64_t)stride + 63) / 64 * 64; /* packed_size */
    return q;
}

/* A linear [rows, cols]: packed when its type allows (*p set), else carved from the fp32
 * buffer and widened (*w set). */
static int linear(const Gguf *g, const char *name, int64_t rows, int64_t cols, Packer *pk, float **buf, float **w,
                  const KernQMat **p, int *quantized, QErr *err) {
    if (packable(pk, g, name)) {
        const GgufTensor *t = shaped(g, name, rows, cols, err);
        if (!t || !(*p = pack_rows(g, t, 0, rows, 0, pk, err))) return -1;
        *quantized = 1;
        return 0;
    }
    return get(g, name, rows, cols, *w = llm_carve(buf, rows * cols), quantized, err);
}

/* A layer's linears as the file names them: [rows, cols]. */
typedef struct GgufLinear {
    const char *name;
    int64_t rows, cols;
} GgufLinear;
static int layer_linears(int gpt2, int64_t D, int64_t F, int64_t kvd, GgufLinear out[7]) {
    if (gpt2) {
        out[0] = (GgufLinear){"attn_qkv", D + 2 * kvd, D};
        out[1] = (GgufLinear){"attn_output", D, D};
        out[2] = (GgufLinear){"ffn_up", F, D};
        out[3] = (GgufLinear){"ffn_down", D, F};
        return 4;
    }
    out[0] = (GgufLinear){"attn_q", D, D};
    out[1] = (GgufLinear){"attn_k", kvd, D};
    out[2] = (GgufLinear){"attn_v", kvd, D};
    out[3] = (GgufLinear){"attn_output", D, D};
    out[4] = (GgufLinear){"ffn_gate", F, D};
    out[5] = (GgufLinear){"ffn_up", F, D};
    out[6] = (GgufLinear){"ffn_down", D, F};
    return 7;
}

static int load_gguf(LlmModel *m, const char *path, int *quantized, int widen, QErr *err) {
    memset(m, 0, sizeof *m);
    *quantized = 0;
    Gguf g;
    if (gguf_open(&g, path, err)) return -1;
    int rc = -1;
    const char *as;
    uint64_t al;
    char arch[16];
    if (gguf_get_str(&g, "general.architecture", &as, &al, err)) goto out;
    if (!((al == 5 && memcmp(as, "llama", 5) == 0) || (al == 4 && memcmp(as, "gpt2", 4) == 0))) {
        qerr_set(err, "%s: general.architecture is '%.*s' (quant reads llama and gpt2)", path, (int)(al < 40 ? al : 40), as);
        goto out;
    }
    snprintf(arch, sizeof arch, "%.*s", (int)al, as);
    LlmConfig *c = &m->c;
    const int gpt2 = arch[0] == 'g';
    c->arch = gpt2 ? LLM_ARCH_GPT2 : LLM_ARCH_LLAMA;
    if (key_u32(&g, arch, "embedding_length", 1, 65536, &c->dim, err) ||
        key_u32(&g, arch, "feed_forward_length", 1, 1 << 20, &c->hidden_dim, err) ||
        key_u32(&g, arch, "block_count", 1, 1024, &c->n_layers, err) ||
        key_u32(&g, arch, "attention.head_count", 1, 4096, &c->n_heads, err) ||
        key_u32(&g, arch, "context_length", 1, 1 << 20, &c->max_seq, err))
        goto out;
    c->n_kv_heads = c->n_heads;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    if (gguf_kv(&g, key) && key_u32(&g, arch, "attention.head_count_kv", 1, 4096, &c->n_kv_heads, err)) goto out;
    snprintf(key, sizeof key, "%s.attention.%s", arch, gpt2 ? "layer_norm_epsilon" : "layer_norm_rms_epsilon");
    if (gguf_get_f32(&g, key, &c->norm_eps, err)) goto out;
    c->rope_theta = gpt2 ? 0.0f : 10000.0f;
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    if (!gpt2 && gguf_kv(&g, key) && gguf_get_f32(&g, key, &c->rope_theta, err)) goto out;
    if (!(c->norm_eps > 0 && c->norm_eps < 1) || !(gpt2 || (c->rope_theta > 0 && isfinite(c->rope_theta)))) {
        qerr_set(err, "%s: norm epsilon %g / rope base %g out of range", path, c->norm_eps, c->rope_theta);
        goto out;
    }
    c->rope_interleaved = 1; /* llama.cpp's llama rotates adjacent pairs */
    if (c->dim % c->n_heads || c->n_heads % c->n_kv_heads || (c->dim / c->n_heads) % 2) {
        qerr_set(err, "%s: inconsistent heads: dim %d, %d heads, %d kv heads", path, c->dim, c->n_heads, c->n_kv_heads);
        goto out;
    }
    int hsd;
    snprintf(key, sizeof key, "%s.rope.dimension_count", arch);
    if (!gpt2 && gguf_kv(&g, key)) {
        if (key_u32(&g, arch, "rope.dimension_count", 0, 65536, &hsd, err)) goto out;
        if (hsd != c->dim / c->n_heads) {
            qerr_set(err, "%s: rope.dimension_count %d: quant rotates whole heads (%d)", path, hsd, c->dim / c->n_heads);
            goto out;
        }
    }
    const GgufTensor *te = gguf_tensor(&g, "token_embd.weight");
    if (!te || te->n_dims != 2 || te->ne[0] != c->dim || te->ne[1] > (1 << 22)) {
        qerr_set(err, "%s: token_embd.weight is missing or not [%d, vocab <= 2^22]", path, c->dim);
        goto out;
    }
    c->vocab_size = (int)te->ne[1];
    c->shared_head = gguf_tensor(&g, "output.weight") == NULL;
    int64_t D = c->dim, F = c->hidden_dim, V = c->vocab_size, L = c->n_layers, S = c->max_seq;
    int64_t kvd = D / c->n_heads * c->n_kv_heads;
    int64_t per = 2 * D * (gpt2 ? 2 : 1) + D * D * 2 + 2 * kvd * D + F * D * (gpt2 ? 2 : 3) + (gpt2 ? D + 2 * kvd + D + F + D : 0);
    int64_t total = V * D + (c->shared_head ? 0 : V * D) + (gpt2 ? S * D : 0) + L * per + D * (gpt2 ? 2 : 1);
    /* the tensors must hold at least one byte per 2 weights (Q4_0 is 4.5 bits): refuse metadata
     * that implies far more weights than the file could hold before allocating for them */
    if ((uint64_t)total / 4 > (uint64_t)g.map.len) { /* (llm_carve's padding: at most 1.1 MB) */
        qerr_set(err, "%s: the metadata implies %lld weights, more than a file of %zu bytes holds", path, (long long)total, g.map.len);
        goto out;
    }
    /* Which tensors stay packed (packable): linears, and beside them an untied classifier (run
     * on the integer kernels) and embedding (rows dequantized on lookup); a tied head is the
     * embedding, widened to fp32 for the classifier. */
    Packer pk = {NULL, NULL, (int)kern_isa_best(), widen};
    char name[96];
    GgufLinear lin[7];
    const int nl = layer_linears(gpt2, D, F, kvd, lin);
    int64_t packed_w = 0, pbytes = 0;
    int nmat = 0, nlin = 0;
    for (int64_t l = 0; l < L; l++)
        for (int k = 0; k < nl; k++) {
            snprintf(name, sizeof name, "blk.%lld.%s.weight", (long long)l, lin[k].name);
            if (!packable(&pk, &g, name)) continue;
            /* the shape first: the bytes below are then bounded by the tensor's own in the file */
            if (!shaped(&g, name, lin[k].rows, lin[k].cols, err)) goto out;
            const int parts = gpt2 && k == 0 ? 3 : 1; /* q | k | v: three linears of one tensor */
            for (int i = 0; i < parts; i++) {
                int64_t rows = parts == 1 ? lin[k].rows : i == 0 ? D : kvd;
                pbytes += packed_size(&g, name, rows, 0, pk.isa);
            }
            nmat += parts;
            nlin += parts;
            packed_w += lin[k].rows * lin[k].cols;
        }
    const int pack_head = nlin > 0 && !c->shared_head && packable(&pk, &g, "output.weight");
    const int pack_emb = nlin > 0 && !c->shared_head && packable(&pk, &g, "token_embd.weight");
    if ((pack_head && !shaped(&g, "output.weight", V, D, err)) || (pack_emb && !shaped(&g, "token_embd.weight", V, D, err)))
        goto out;
    if (pack_head) pbytes += packed_size(&g, "output.weight", V, 0, pk.isa), packed_w += V * D, nmat++;
    if (pack_emb) pbytes += packed_size(&g, "token_embd.weight", V, 1, pk.isa), packed_w += V * D, nmat++;
    { /* what the model takes in memory, before any of it is allocated: a widened file (K types, or
       * any file for export / ptq-llm) takes 4 bytes a weight, which may be more than the machine
       * has; one clear line beats the OOM killer halfway through */
        const int64_t need = (total - packed_w) * 4 + pbytes, avail = qmem_available_bytes();
        if (avail > 0 && need > avail) {
            qerr_set(err, "%s: the model needs %.2f GiB in memory (%.2f GiB of it weights widened to fp32: types the integer "
                          "kernels do not run, or a tool that needs fp32), %.2f GiB are available", path, need / 1073741824.0,
                     (total - packed_w) * 4 / 1073741824.0, avail / 1073741824.0);
            goto out;
        }
    }
    if (nmat) { /* the KernQMat table, then the 64-aligned blocks (each bounded by its tensor's bytes in the file) */
        int64_t head = ((int64_t)nmat * (int64_t)sizeof(KernQMat) + 63) / 64 * 64;
        m->packed = xmalloc64((size_t)(head + pbytes));
        pk.table = (KernQMat *)m->packed;
        pk.mem = (uint8_t *)m->packed + head;
        m->n_packed = nlin;
        m->isa = pk.isa;
    }
    float *w = xmalloc64((size_t)(total - packed_w + LLM_CARVE_PAD(L)) * sizeof(float)); /* tensors on 64 bytes (llm_carve) */
    m->owned = w;
    m->layers = xcalloc((size_t)L, sizeof(LlmLayer));
    int *qz = quantized;
    const GgufTensor *t;
    if (pack_emb) {
        if (!(t = shaped(&g, "token_embd.weight", V, D, err)) || !(m->p_emb = pack_rows(&g, t, 0, V, 1, &pk, err))) goto out;
        *qz = 1;
    } else if (get(&g, "token_embd.weight", V, D, m->tok_emb = llm_carve(&w, V * D), qz, err)) {
        goto out;
    }
    if (c->shared_head) m->head = m->tok_emb;
    else if (pack_head) {
        if (!(t = shaped(&g, "output.weight", V, D, err)) || !(m->p_head = pack_rows(&g, t, 0, V, 0, &pk, err))) goto out;
        *qz = 1;
    } else if (get(&g, "output.weight", V, D, m->head = llm_carve(&w, V * D), qz, err)) {
        goto out;
    }
    if (gpt2 && get(&g, "position_embd.weight", S, D, m->pos_emb = llm_carve(&w, S * D), qz, err)) goto out;
    if (get(&g, "output_norm.weight", 0, D, m->final_norm = llm_carve(&w, D), qz, err)) goto out;
    if (gpt2 && get(&g, "output_norm.bias", 0, D, m->final_norm_b = llm_carve(&w, D), qz, err)) goto out;
#define T(fmt) (snprintf(name, sizeof name, "blk.%lld." fmt, (long long)l), name)
    for (int64_t l = 0; l < L; l++) {
        LlmLayer *y = &m->layers[l];
        if (get(&g, T("attn_norm.weight"), 0, D, y->attn_norm = llm_carve(&w, D), qz, err) ||
            get(&g, T("ffn_norm.weight"), 0, D, y->ffn_norm = llm_carve(&w, D), qz, err))
            goto out;
        if (gpt2) {
            y->bq = llm_carve(&w, D);
            y->bk = llm_carve(&w, kvd);
            y->bv = llm_carve(&w, kvd);
            y->bo = llm_carve(&w, D);
            y->b_up = llm_carve(&w, F);
            y->b_down = llm_carve(&w, D);
            y->attn_norm_b = llm_carve(&w, D);
            y->ffn_norm_b = llm_carve(&w, D);
            /* q, k, v: consecutive rows of attn_qkv, three packed linears or three consecutive
             * fp32 tensors (as are their biases) */
            if (packable(&pk, &g, T("attn_qkv.weight"))) {
                if (!(t = shaped(&g, name, D + 2 * kvd, D, err)) || !(y->pq = pack_rows(&g, t, 0, D, 0, &pk, err)) ||
                    !(y->pk = pack_rows(&g, t, D, kvd, 0, &pk, err)) || !(y->pv = pack_rows(&g, t, D + kvd, kvd, 0, &pk, err)))
                    goto out;
                *qz = 1;
            } else {
                y->wq = llm_carve(&w, D * D);
                y->wk = llm_carve(&w, kvd * D);
                y->wv = llm_carve(&w, kvd * D);
                if (get(&g, name, D + 2 * kvd, D, y->wq, qz, err)) goto out;
            }
            if (get(&g, T("attn_norm.bias"), 0, D, y->attn_norm_b, qz, err) ||
                get(&g, T("ffn_norm.bias"), 0, D, y->ffn_norm_b, qz, err) ||
                get(&g, T("attn_qkv.bias"), 0, D + 2 * kvd, y->bq, qz, err) ||
                linear(&g, T("attn_output.weight"), D, D, &pk, &w, &y->wo, &y->po, qz, err) ||
                get(&g, T("attn_output.bias"), 0, D, y->bo, qz, err) ||
                linear(&g, T("ffn_up.weight"), F, D, &pk, &w, &y->w_up, &y->p_up, qz, err) ||
                get(&g, T("ffn_up.bias"), 0, F, y->b_up, qz, err) ||
                linear(&g, T("ffn_down.weight"), D, F, &pk, &w, &y->w_down, &y->p_down, qz, err) ||
                get(&g, T("ffn_down.bias"), 0, D, y->b_down, qz, err))
                goto out;
        } else { /* layer_linears' order */
            float **ws[7] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w_gate, &y->w_up, &y->w_down};
            const KernQMat **ps[7] = {&y->pq, &y->pk, &y->pv, &y->po, &y->p_gate, &y->p_up, &y->p_down};
            for (int k = 0; k < nl; k++) {
                snprintf(name, sizeof name, "blk.%lld.%s.weight", (long long)l, lin[k].name);
                if (linear(&g, name, lin[k].rows, lin[k].cols, &pk, &w, ws[k], ps[k], qz, err)) goto out;
            }
        }
    }
#undef T
    snprintf(m->name, sizeof m->name, "%s", path);
    rc = 0;
out:
    gguf_close(&g);
    if (rc) llm_free(m);
    return rc;
}

int llm_load_gguf(LlmModel *m, const char *path, int *quantized, QErr *err) { return load_gguf(m, path, quantized, 0, err); }

int llm_load_gguf_fp32(LlmModel *m, const char *path, int *quantized, QErr *err) {
    return load_gguf(m, path, quantized, 1, err);
}

int tokenizer_load_gguf(Tokenizer **t, const char *path, QErr *err) {
    *t = NULL;
    Gguf g;
    if (gguf_open(&g, path, err)) return -1;
    TokenizerVocab v;
    memset(&v, 0, sizeof v);
    int rc = -1;
    const char *ms;
    uint64_t ml;
    if (gguf_get_str(&g, "tokenizer.ggml.model", &ms, &ml, err)) goto out;
    if (ml == 5 && memcmp(ms, "llama", 5) == 0) v.model = "llama";
    else if (ml == 4 && memcmp(ms, "gpt2", 4) == 0) v.model = "gpt2";
    else {
        qerr_set(err, "%s: tokenizer.ggml.model is '%.*s' (quant reads llama and gpt2)", path, (int)(ml < 40 ? ml : 40), ms);
        goto out;
    }
    const GgufKV *tk = gguf_kv(&g, "tokenizer.ggml.tokens");
    if (!tk || tk->type != GGUF_TYPE_ARRAY || tk->arr_type != GGUF_TYPE_STRING || tk->n < 1 || tk->n > (1u << 22)) {
        qerr_set(err, "%s: tokenizer.ggml.tokens must be an array of 1..2^22 strings", path);
        goto out;
    }
    v.n = (int32_t)tk->n;
    v.tok = xcalloc((size_t)v.n, sizeof(char *));
    v.len = xcalloc((size_t)v.n, sizeof(int));
    for (int32_t i = 0; i < v.n; i++) {
        const char *s;
        uint64_t n;
        gguf_arr_str(tk, (uint64_t)i, &s, &n);
        if (n > 4096) {
            qerr_set(err, "%s: token %d is %llu bytes long (at most 4096)", path, i, (unsigned long long)n);
            goto out;
        }
        v.tok[i] = xmalloc((size_t)n + 1);
        memcpy(v.tok[i], s, (size_t)n);
        v.tok[i][n] = 0;
        v.len[i] = (int)n;
    }
    const GgufKV *sc = gguf_kv(&g, "tokenizer.ggml.scores");
    if (sc) {
        if (sc->type != GGUF_TYPE_ARRAY || sc->arr_type != GGUF_TYPE_FLOAT32 || sc->n != tk->n) {
            qerr_set(err, "%s: tokenizer.ggml.scores must be %d float32 values", path, v.n);
            goto out;
        }
        v.score = xmalloc((size_t)v.n * sizeof(float));
        memcpy(v.score, sc->data, (size_t)v.n * 4);
    }
    const GgufKV *mg = gguf_kv(&g, "tokenizer.ggml.merges");
    if (mg) {
        if (mg->type != GGUF_TYPE_ARRAY || mg->arr_type != GGUF_TYPE_STRING) {
            qerr_set(err, "%s: tokenizer.ggml.merges must be an array of strings", path);
            goto out;
        }
        v.merges = xcalloc((size_t)(mg->n ? mg->n : 1), sizeof(char *));
        for (uint64_t i = 0; i < mg->n; i++, v.n_merges++) {
            const char *s;
            uint64_t n;
            gguf_arr_str(mg, i, &s, &n);
            v.merges[i] = xmalloc((size_t)n + 1);
            memcpy(v.merges[i], s, (size_t)n);
            v.merges[i][n] = 0;
        }
    }
    uint32_t id;
    QErr e2;
    v.bos = gguf_get_u32(&g, "tokenizer.ggml.bos_token_id", &id, &e2) == 0 && id < (uint32_t)v.n ? (int32_t)id : -1;
    v.eos = gguf_get_u32(&g, "tokenizer.ggml.eos_token_id", &id, &e2) == 0 && id < (uint32_t)v.n ? (int32_t)id : -1;
    v.unk = gguf_get_u32(&g, "tokenizer.ggml.unknown_token_id", &id, &e2) == 0 && id < (uint32_t)v.n ? (int32_t)id : -1;
    const GgufKV *ab = gguf_kv(&g, "tokenizer.ggml.add_bos_token");
    v.add_bos = ab && ab->type == GGUF_TYPE_BOOL ? ab->data[0] != 0 : strcmp(v.model, "llama") == 0;
    rc = tokenizer_from_vocab(t, &v, path, err);
out:
    v.model = NULL;
    tokenizer_vocab_free(&v);
    gguf_close(&g);
    return rc;
}

int llm_gguf_quantized_tensors(const char *path, char *types, size_t n) {
    if (n) types[0] = 0;
    if (!gguf_detect(path)) return 0;
    Gguf g;
    QErr e;
    if (gguf_open(&g, path, &e)) return 0;
    static const uint32_t qt[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0};
    int total = 0;
    size_t used = 0;
    for (int k = 0; k < (int)(sizeof qt / sizeof qt[0]); k++) {
        int c = 0;
        for (int64_t i = 0; i < g.n_tensors; i++) c += g.t[i].type == qt[k];
        if (c && used < n) used += (size_t)snprintf(types + used, n - used, "%s%s x%d", total ? ", " : "", ggml_type_name(qt[k]), c);
        total += c;
    }
    gguf_close(&g);
    return total;
}
