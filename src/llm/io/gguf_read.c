/* gguf_read.c — the checked GGUF reader (gguf.h).  The file is memory-mapped and walked with
 * a cursor that checks every read against the file length first; every count is compared
 * with what the remaining bytes could possibly hold before anything is allocated, so a
 * hostile file costs at most its own size in memory. */
#include <stdlib.h>
#include <string.h>

#include "quant/gguf.h"
#include "quant/qblock.h"

const char *ggml_type_name(uint32_t type) {
    switch (type) {
        case GGML_TYPE_F32: return "F32";
        case GGML_TYPE_F16: return "F16";
        case GGML_TYPE_Q4_0: return "Q4_0";
        case GGML_TYPE_Q4_1: return "Q4_1";
        case GGML_TYPE_Q5_0: return "Q5_0";
        case GGML_TYPE_Q5_1: return "Q5_1";
        case GGML_TYPE_Q8_0: return "Q8_0";
        case GGML_TYPE_Q2_K: return "Q2_K";
        case GGML_TYPE_Q3_K: return "Q3_K";
        case GGML_TYPE_Q4_K: return "Q4_K";
        case GGML_TYPE_Q5_K: return "Q5_K";
        case GGML_TYPE_Q6_K: return "Q6_K";
        case GGML_TYPE_BF16: return "BF16";
        default: return NULL;
    }
}

int ggml_dequant_k(uint32_t type, const uint8_t *p, int64_t n, float *dst) {
    if (type < GGML_TYPE_Q2_K || type > GGML_TYPE_Q6_K) return -1;
    qblock_k_dequant((QBlockKType)(type - GGML_TYPE_Q2_K), p, n, dst); /* the same order */
    return 0;
}

int ggml_type_block(uint32_t type, int64_t *be, int64_t *bb) {
    switch (type) {
        case GGML_TYPE_F32: *be = 1, *bb = 4; return 0;
        case GGML_TYPE_F16:
        case GGML_TYPE_BF16: *be = 1, *bb = 2; return 0;
        case GGML_TYPE_Q4_0: *be = 32, *bb = 18; return 0;
        case GGML_TYPE_Q4_1: *be = 32, *bb = 20; return 0;
        case GGML_TYPE_Q5_0: *be = 32, *bb = 22; return 0;
        case GGML_TYPE_Q5_1: *be = 32, *bb = 24; return 0;
        case GGML_TYPE_Q8_0: *be = 32, *bb = 34; return 0;
        case GGML_TYPE_Q2_K: *be = 256, *bb = 84; return 0;
        case GGML_TYPE_Q3_K: *be = 256, *bb = 110; return 0;
        case GGML_TYPE_Q4_K: *be = 256, *bb = 144; return 0;
        case GGML_TYPE_Q5_K: *be = 256, *bb = 176; return 0;
        case GGML_TYPE_Q6_K: *be = 256, *bb = 210; return 0;
        default: return -1;
    }
}

/* ------------------------------------------------------------------ cursor */
typedef struct Cur {
    const uint8_t *p;
    uint64_t off, len;
    const char *path;
    QErr *err;
} Cur;

static int need(Cur *c, uint64_t n, const char *what) {
    if (n > c->len - c->off)
        return qerr_set(c->err, "%s: truncated: %s needs %llu bytes at offset %llu, the file has %llu", c->path, what,
                        (unsigned long long)n, (unsigned long long)c->off, (unsigned long long)c->len);
    return 0;
}
static int rd(Cur *c, void *dst, uint64_t n, const char *what) {
    if (need(c, n, what)) return -1;
    memcpy(dst, c->p + c->off, n);
    c->off += n;
    return 0;
}
static int rd_u32(Cur *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static int rd_u64(Cur *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }
/* A string: u64 length (checked against the bytes left) then the bytes; *s points into the map. */
static int rd_str(Cur *c, const char **s, uint64_t *n, const char *what) {
    if (rd_u64(c, n, what)) return -1;
    if (*n > c->len - c->off)
        return qerr_set(c->err, "%s: %s: string of %llu bytes at offset %llu runs past the end of the file (%llu bytes)", c->path,
                        what, (unsigned long long)*n, (unsigned long long)(c->off - 8), (unsigned long long)c->len);
    *s = (const char *)c->p + c->off;
    c->off += *n;
    return 0;
}

static int64_t scalar_size(uint32_t t) {
    static const int8_t sz[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, -1, -1, 8, 8, 8};
    return t < GGUF_TYPE_COUNT ? sz[t] : -1;
}

static int read_value(Cur *c, GgufKV *kv) {
    char what[300];
    snprintf(what, sizeof what, "key '%.200s'", kv->key);
    kv->n = 1;
    kv->data = c->p + c->off;
    if (kv->type == GGUF_TYPE_STRING) {
        const char *s;
        uint64_t n;
        return rd_str(c, &s, &n, what);
    }
    if (kv->type != GGUF_TYPE_ARRAY) {
        int64_t sz = scalar_size(kv->type);
        if (sz < 0) return qerr_set(c->err, "%s: %s has value type %u (expected 0..12)", c->path, what, kv->type);
        return need(c, (uint64_t)sz, what) ? -1 : (c->off += (uint64_t)sz, 0);
    }
    if (rd_u32(c, &kv->arr_type, what) || rd_u64(c, &kv->n, what)) return -1;
    kv->data = c->p + c->off;
    if (kv->arr_type == GGUF_TYPE_STRING) {
        /* each string needs at least its 8-byte length */
        if (kv->n > (c->len - c->off) / 8)
            return qerr_set(c->err, "%s: %s: array of %llu strings cannot fit in the %llu bytes left", c->path, what,
                            (unsigned long long)kv->n, (unsigned long long)(c->len - c->off));
        kv->str = xmalloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->str);
        for (uint64_t i = 0; i < kv->n; i++) {
            kv->str[i] = c->p + c->off;
            const char *s;
            uint64_t n;
            if (rd_str(c, &s, &n, what)) return -1;
        }
        return 0;
    }
    int64_t sz = scalar_size(kv->arr_type);
    if (sz < 0) return qerr_set(c->err, "%s: %s: array element type %u (expected a number, bool or string)", c->path, what, kv->arr_type);
    if (kv->n > (c->len - c->off) / (uint64_t)sz)
        return qerr_set(c->err, "%s: %s: array of %llu elements of %lld bytes runs past the end of the file (%llu bytes left)",
                        c->path, what, (unsigned long long)kv->n, (long long)sz, (unsigned long long)(c->len - c->off));
    c->off += kv->n * (uint64_t)sz;
    return 0;
}

void gguf_close(Gguf *g) {
    for (int64_t i = 0; g->kv && i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str);
    }
    for (int64_t i = 0; g->t && i < g->n_tensors; i++) free(g->t[i].name);
    free(g->kv);
    free(g->t);
    qmap_close(&g->map);
    memset(g, 0, sizeof *g);
}

int gguf_detect(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4];
    int ok = fread(m, 1, 4, f) == 4 && memcmp(m, "GGUF", 4) == 0;
    fclose(f);
    return ok;
}

int gguf_open(Gguf *g, const char *path, QErr *err) {
    memset(g, 0, sizeof *g);
    snprintf(g->path, sizeof g->path, "%s", path);
    if (qmap_open(&g->map, path, 0, err)) return -1;
    Cur c = {g->map.data, 0, g->map.len, path, err};
    char magic[4];
    uint64_t nt, nkv;
    if (rd(&c, magic, 4, "the magic")) goto fail;
    if (memcmp(magic, "GGUF", 4) != 0) {
        qerr_set(err, "%s: not a GGUF file: magic is %02x %02x %02x %02x, expected \"GGUF\"", path, (uint8_t)magic[0],
                 (uint8_t)magic[1], (uint8_t)magic[2], (uint8_t)magic[3]);
        goto fail;
    }
    if (rd_u32(&c, &g->version, "the version")) goto fail;
    if (g->version != 2 && g->version != 3) {
        qerr_set(err, "%s: GGUF version %u (this build reads 2 and 3)", path, g->version);
        goto fail;
    }
    if (rd_u64(&c, &nt, "the tensor count") || rd_u64(&c, &nkv, "the key/value count")) goto fail;
    /* a key/value takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 4 + 8 */
    if (nkv > (c.len - c.off) / 13) {
        qerr_set(err, "%s: key/value count %llu cannot fit in a file of %llu bytes", path, (unsigned long long)nkv,
                 (unsigned long long)c.len);
        goto fail;
    }
    if (nt > (c.len - c.off) / 24) {
        qerr_set(err, "%s: tensor count %llu cannot fit in a file of %llu bytes", path, (unsigned long long)nt,
                 (unsigned long long)c.len);
        goto fail;
    }
    g->kv = xcalloc((size_t)(nkv ? nkv : 1), sizeof *g->kv);
    g->t = xcalloc((size_t)(nt ? nt : 1), sizeof *g->t);
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < nkv; i++) {
        GgufKV *kv = &g->kv[i];
        const char *k;
        uint64_t kn;
        char what[64];
        snprintf(what, sizeof what, "key %llu's name", (unsigned long long)i);
        if (rd_str(&c, &k, &kn, what)) goto fail;
        g->n_kv = (int64_t)i + 1;
        kv->key = xmalloc((size_t)kn + 1);
        memcpy(kv->key, k, (size_t)kn);
        kv->key[kn] = 0;
        if (rd_u32(&c, &kv->type, "a value type") || read_value(&c, kv)) goto fail;
        if (strcmp(kv->key, "general.alignment") == 0) {
            uint32_t a;
            if (kv->type != GGUF_TYPE_UINT32 || (memcpy(&a, kv->data, 4), a == 0) || (a & (a - 1)) || a > 65536) {
                qerr_set(err, "%s: general.alignment must be a u32 power of two up to 65536", path);
                goto fail;
            }
            g->alignment = a;
        }
    }
    for (uint64_t i = 0; i < nt; i++) {
        GgufTensor *t = &g->t[i];
        const char *s;
        uint64_t sn;
        if (rd_str(&c, &s, &sn, "a tensor name")) goto fail;
        g->n_tensors = (int64_t)i + 1;
        t->name = xmalloc((size_t)sn + 1);
        memcpy(t->name, s, (size_t)sn);
        t->name[sn] = 0;
        if (rd_u32(&c, &t->n_dims, "tensor dims")) goto fail;
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) {
            qerr_set(err, "%s: tensor %s has %u dimensions (expected 1..%d)", path, t->name, t->n_dims, GGUF_MAX_DIMS);
            goto fail;
        }
        t->nelem = 1;
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
            uint64_t ne = 1;
            if (d < t->n_dims && rd_u64(&c, &ne, "a tensor dimension")) goto fail;
            /* each dimension and the product stay below 2^40: far beyond any real model */
            if (ne < 1 || ne > (1ull << 40) || (uint64_t)t->nelem > (1ull << 40) / ne) {
                qerr_set(err, "%s: tensor %s: dimension %u is %llu (the element count must be in 1..2^40)", path, t->name, d,
                         (unsigned long long)ne);
                goto fail;
            }
            t->ne[d] = (int64_t)ne;
            t->nelem *= (int64_t)ne;
        }
        if (rd_u32(&c, &t->type, "a tensor type") || rd_u64(&c, &t->offset, "a tensor offset")) goto fail;
        int64_t be, bb;
        if (ggml_type_block(t->type, &be, &bb)) {
            qerr_set(err, "%s: tensor %s has ggml type %u, which quant does not read (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K-Q6_K)", path,
                     t->name, t->type);
            goto fail;
        }
        if (t->ne[0] % be) {
            qerr_set(err, "%s: tensor %s: a row of %lld is not a whole number of %s blocks (%lld)", path, t->name,
                     (long long)t->ne[0], ggml_type_name(t->type), (long long)be);
            goto fail;
        }
        t->nbytes = (uint64_t)(t->nelem / be) * (uint64_t)bb;
        if (t->offset % g->alignment) {
            qerr_set(err, "%s: tensor %s: offset %llu is not a multiple of the alignment %u", path, t->name,
                     (unsigned long long)t->offset, g->alignment);
            goto fail;
        }
    }
    g->data_off = (c.off + g->alignment - 1) / g->alignment * g->alignment;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        GgufTensor *t = &g->t[i];
        uint64_t room = g->data_off <= c.len ? c.len - g->data_off : 0;
        if (t->offset > room || t->nbytes > room - t->offset) {
            qerr_set(err, "%s: tensor %s: bytes [%llu, %llu) of the data section run past the end of the file (%llu bytes of data)",
                     path, t->name, (unsigned long long)t->offset, (unsigned long long)(t->offset + t->nbytes),
                     (unsigned long long)room);
            goto fail;
        }
        t->data = g->map.data + g->data_off + t->offset;
    }
    return 0;
fail:
    gguf_close(g);
    return -1;
}

const GgufKV *gguf_kv(const Gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

const GgufTensor *gguf_tensor(const Gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->t[i].name, name) == 0) return &g->t[i];
    return NULL;
}

int gguf_get_u32(const Gguf *g, const char *key, uint32_t *v, QErr *err) {
    const GgufKV *kv = gguf_kv(g, key);
    if (!kv) return qerr_set(err, "%s: metadata key %s is missing", g->path, key);
    uint64_t x;
    int64_t sx;
    switch (kv->type) {
        case GGUF_TYPE_UINT8: x = kv->data[0]; break;
        case GGUF_TYPE_UINT16: { uint16_t a; memcpy(&a, kv->data, 2); x = a; } break;
        case GGUF_TYPE_UINT32: { uint32_t a; memcpy(&a, kv->data, 4); x = a; } break;
        case GGUF_TYPE_UINT64: memcpy(&x, kv->data, 8); break;
        case GGUF_TYPE_INT8: sx = (int8_t)kv->data[0]; goto sgn;
        case GGUF_TYPE_INT16: { int16_t a; memcpy(&a, kv->data, 2); sx = a; } goto sgn;
        case GGUF_TYPE_INT32: { int32_t a; memcpy(&a, kv->data, 4); sx = a; } goto sgn;
        case GGUF_TYPE_INT64: memcpy(&sx, kv->data, 8); goto sgn;
        default: return qerr_set(err, "%s: metadata %s has value type %u, expected an integer", g->path, key, kv->type);
    }
    goto chk;
sgn:
    if (sx < 0) return qerr_set(err, "%s: metadata %s is %lld, expected a non-negative integer", g->path, key, (long long)sx);
    x = (uint64_t)sx;
chk:
    if (x > UINT32_MAX) return qerr_set(err, "%s: metadata %s is %llu, larger than 32 bits", g->path, key, (unsigned long long)x);
    *v = (uint32_t)x;
    return 0;
}

int gguf_get_f32(const Gguf *g, const char *key, float *v, QErr *err) {
    const GgufKV *kv = gguf_kv(g, key);
    if (!kv) return qerr_set(err, "%s: metadata key %s is missing", g->path, key);
    if (kv->type == GGUF_TYPE_FLOAT32) memcpy(v, kv->data, 4);
    else if (kv->type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, kv->data, 8);
        *v = (float)d;
    } else return qerr_set(err, "%s: metadata %s has value type %u, expected a float", g->path, key, kv->type);
    return 0;
}

int gguf_get_str(const Gguf *g, const char *key, const char **s, uint64_t *len, QErr *err) {
    const GgufKV *kv = gguf_kv(g, key);
    if (!kv) return qerr_set(err, "%s: metadata key %s is missing", g->path, key);
    if (kv->type != GGUF_TYPE_STRING) return qerr_set(err, "%s: metadata %s has value type %u, expected a string", g->path, key, kv->type);
    memcpy(len, kv->data, 8);
    *s = (const char *)kv->data + 8;
    return 0;
}

void gguf_arr_str(const GgufKV *kv, uint64_t i, const char **s, uint64_t *len) {
    memcpy(len, kv->str[i], 8);
    *s = (const char *)kv->str[i] + 8;
}
