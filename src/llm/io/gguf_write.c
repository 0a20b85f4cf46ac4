/* gguf_write.c — writing GGUF v3 files (gguf.h): key/values serialized as they are added,
 * tensors kept as pointers until the file is written (header, key/values, tensor infos,
 * padding, data aligned to 32), or written one by one after the header (gguf_w_begin / put /
 * end) by exporters that produce them as they go. */
#include <stdlib.h>
#include <string.h>

#include "quant/gguf.h"

void gguf_w_init(GgufWriter *w) { memset(w, 0, sizeof *w); }

void gguf_w_free(GgufWriter *w) {
    gguf_w_abort(w);
    for (int i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        if (w->t[i].owned) free((void *)w->t[i].data);
    }
    free(w->t);
    free(w->kv);
    memset(w, 0, sizeof *w);
}

static void put(GgufWriter *w, const void *p, size_t n) {
    if (w->kv_len + n > w->kv_cap) {
        w->kv_cap = (w->kv_len + n) * 2 + 256;
        w->kv = xrealloc(w->kv, w->kv_cap);
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}
static void put_u32(GgufWriter *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(GgufWriter *w, uint64_t v) { put(w, &v, 8); }
static void put_strn(GgufWriter *w, const char *s, size_t n) {
    put_u64(w, n);
    put(w, s, n);
}
static void key(GgufWriter *w, const char *k, uint32_t type) {
    put_strn(w, k, strlen(k));
    put_u32(w, type);
    w->n_kv++;
}

void gguf_w_u32(GgufWriter *w, const char *k, uint32_t v) {
    key(w, k, GGUF_TYPE_UINT32);
    put_u32(w, v);
}
void gguf_w_i32(GgufWriter *w, const char *k, int32_t v) {
    key(w, k, GGUF_TYPE_INT32);
    put(w, &v, 4);
}
void gguf_w_f32(GgufWriter *w, const char *k, float v) {
    key(w, k, GGUF_TYPE_FLOAT32);
    put(w, &v, 4);
}
void gguf_w_bool(GgufWriter *w, const char *k, int v) {
    key(w, k, GGUF_TYPE_BOOL);
    uint8_t b = v ? 1 : 0;
    put(w, &b, 1);
}
void gguf_w_str(GgufWriter *w, const char *k, const char *s) {
    key(w, k, GGUF_TYPE_STRING);
    put_strn(w, s, strlen(s));
}
void gguf_w_arr_str(GgufWriter *w, const char *k, const char *const *s, const int *lens, int64_t n) {
    key(w, k, GGUF_TYPE_ARRAY);
    put_u32(w, GGUF_TYPE_STRING);
    put_u64(w, (uint64_t)n);
    for (int64_t i = 0; i < n; i++) put_strn(w, s[i], lens ? (size_t)lens[i] : strlen(s[i]));
}
void gguf_w_arr_f32(GgufWriter *w, const char *k, const float *v, int64_t n) {
    key(w, k, GGUF_TYPE_ARRAY);
    put_u32(w, GGUF_TYPE_FLOAT32);
    put_u64(w, (uint64_t)n);
    put(w, v, (size_t)n * 4);
}
void gguf_w_arr_i32(GgufWriter *w, const char *k, const int32_t *v, int64_t n) {
    key(w, k, GGUF_TYPE_ARRAY);
    put_u32(w, GGUF_TYPE_INT32);
    put_u64(w, (uint64_t)n);
    put(w, v, (size_t)n * 4);
}

void gguf_w_tensor(GgufWriter *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne, const void *data,
                   uint64_t nbytes, int owned) {
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 64;
        w->t = xrealloc(w->t, (size_t)w->cap_t * sizeof *w->t);
    }
    GgufWTensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->type = type;
    t->data = data;
    t->nbytes = nbytes;
    t->owned = owned;
}

static uint64_t align_up(uint64_t x) { return (x + GGUF_DEFAULT_ALIGNMENT - 1) / GGUF_DEFAULT_ALIGNMENT * GGUF_DEFAULT_ALIGNMENT; }

int gguf_w_begin(GgufWriter *w, const char *path, QErr *err) {
    /* every tensor's size must agree with its type and shape (a writer bug otherwise) */
    for (int i = 0; i < w->n_t; i++) {
        const GgufWTensor *t = &w->t[i];
        int64_t be, bb;
        if (ggml_type_block(t->type, &be, &bb) || t->ne[0] % be)
            return qerr_set(err, "%s: tensor %s: type %u cannot hold a row of %lld", path, t->name, t->type, (long long)t->ne[0]);
        uint64_t need = (uint64_t)(t->ne[0] / be * bb) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        if (need != t->nbytes)
            return qerr_set(err, "%s: tensor %s: %llu bytes given, its shape needs %llu", path, t->name,
                            (unsigned long long)t->nbytes, (unsigned long long)need);
    }
    /* the header and tensor infos go through the same byte buffer as the key/values */
    GgufWriter h = {0};
    put(&h, "GGUF", 4);
    put_u32(&h, GGUF_VERSION);
    put_u64(&h, (uint64_t)w->n_t);
    put_u64(&h, (uint64_t)w->n_kv);
    put(&h, w->kv, w->kv_len);
    uint64_t off = 0;
    for (int i = 0; i < w->n_t; i++) {
        const GgufWTensor *t = &w->t[i];
        put_strn(&h, t->name, strlen(t->name));
        put_u32(&h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&h, (uint64_t)t->ne[d]);
        put_u32(&h, t->type);
        put_u64(&h, off);
        off = align_up(off + t->nbytes);
    }
    static const uint8_t zeros[GGUF_DEFAULT_ALIGNMENT] = {0};
    put(&h, zeros, (size_t)(align_up(h.kv_len) - h.kv_len));
    if (qwriter_open(&w->f, path, err)) {
        free(h.kv);
        return -1;
    }
    w->open = 1;
    w->next = 0;
    int rc = qwriter_write(&w->f, h.kv, h.kv_len, err);
    w->written = h.kv_len;
    free(h.kv);
    if (rc) gguf_w_abort(w);
    return rc;
}

int gguf_w_put(GgufWriter *w, const void *data, uint64_t nbytes, QErr *err) {
    static const uint8_t zeros[GGUF_DEFAULT_ALIGNMENT] = {0};
    if (!w->open) return qerr_set(err, "GGUF writer: put without begin");
    if (w->next >= w->n_t || w->t[w->next].nbytes != nbytes) {
        int i = w->next;
        gguf_w_abort(w);
        return qerr_set(err, "GGUF writer: tensor %d: %llu bytes, %s", i, (unsigned long long)nbytes,
                        i >= w->n_t ? "more tensors than declared" : "not the declared size");
    }
    int last = ++w->next == w->n_t;
    uint64_t pad = last ? 0 : align_up(nbytes) - nbytes;
    if (qwriter_write(&w->f, data, nbytes, err) || (pad && qwriter_write(&w->f, zeros, pad, err))) {
        gguf_w_abort(w);
        return -1;
    }
    w->written += nbytes + pad;
    return 0;
}

int gguf_w_end(GgufWriter *w, uint64_t *bytes, QErr *err) {
    if (!w->open) return qerr_set(err, "GGUF writer: end without begin");
    if (w->next != w->n_t) {
        int n = w->next;
        gguf_w_abort(w);
        return qerr_set(err, "GGUF writer: %d of %d tensors written", n, w->n_t);
    }
    w->open = 0;
    if (qwriter_commit(&w->f, err)) return -1;
    if (bytes) *bytes = w->written;
    return 0;
}

void gguf_w_abort(GgufWriter *w) {
    if (w->open) qwriter_abort(&w->f);
    w->open = 0;
}

int gguf_w_write(GgufWriter *w, const char *path, uint64_t *bytes, QErr *err) {
    if (gguf_w_begin(w, path, err)) return -1;
    for (int i = 0; i < w->n_t; i++)
        if (gguf_w_put(w, w->t[i].data, w->t[i].nbytes, err)) return -1;
    return gguf_w_end(w, bytes, err);
}
