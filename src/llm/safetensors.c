/* safetensors.c — see safetensors.h.  Every size and offset is checked against the real file
 * length before a byte of tensor data is touched. */
#include "quant/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

static const char *const dtype_names[] = {"F32", "F16", "BF16", "I8", "U8", "I32", "I64"};
static const size_t dtype_sizes[] = {4, 2, 2, 1, 1, 4, 8};

const char *st_dtype_name(StDtype d) { return dtype_names[d]; }
size_t st_dtype_size(StDtype d) { return dtype_sizes[d]; }

static int dtype_parse(const char *s, StDtype *d) {
    for (int i = 0; i < (int)(sizeof dtype_names / sizeof *dtype_names); i++)
        if (strcmp(s, dtype_names[i]) == 0) return *d = (StDtype)i, 0;
    return -1;
}

void st_close(Safetensors *st) {
    for (int i = 0; i < st->ntensors; i++) free(st->tensors[i].name);
    free(st->by_name);
    for (int i = 0; i < st->nshards; i++) {
        qmap_close(&st->shards[i].map);
        free(st->shards[i].path);
    }
    for (int i = 0; i < st->nmeta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->meta_keys);
    free(st->meta_vals);
    free(st->tensors);
    free(st->shards);
    memset(st, 0, sizeof *st);
}

typedef struct Span {
    size_t b, e;
    const char *name;
} Span;

static int span_cmp(const void *a, const void *b) {
    const Span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : (x->e < y->e ? -1 : x->e > y->e);
}

static int name_cmp(const void *a, const void *b) {
    return strcmp((*(const StTensor *const *)a)->name, (*(const StTensor *const *)b)->name);
}
static int key_cmp(const void *key, const void *t) { return strcmp(key, (*(const StTensor *const *)t)->name); }

/* Reads one shard's header and appends its tensors. */
static int add_shard(Safetensors *st, const char *path, QErr *err) {
    st->shards = xrealloc(st->shards, (size_t)(st->nshards + 1) * sizeof(StShard));
    StShard *sh = &st->shards[st->nshards];
    memset(sh, 0, sizeof *sh);
    if (qmap_open(&sh->map, path, 0, err)) return -1;
    sh->path = xstrdup(path);
    int shard = st->nshards++;
    size_t flen = sh->map.len;
    if (flen < 8) return qerr_set(err, "%s: %zu bytes, too short for the 8-byte header length", path, flen);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | sh->map.data[i];
    if (hlen > flen - 8)
        return qerr_set(err, "%s: header length %llu exceeds the file (%zu bytes): truncated?", path,
                        (unsigned long long)hlen, flen);
    size_t data0 = 8 + (size_t)hlen, dlen = flen - data0;
    cJSON *root = cJSON_ParseWithLength((const char *)sh->map.data + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return qerr_set(err, "%s: header is not a JSON object", path);
    }
    int rc = -1, n0 = st->ntensors, count = cJSON_GetArraySize(root);
    st->tensors = xrealloc(st->tensors, (size_t)(n0 + count) * sizeof(StTensor));
    Span *spans = xmalloc((size_t)count * sizeof(Span) + 1);
    int nspan = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) {
                qerr_set(err, "%s: __metadata__ is not an object", path);
                goto done;
            }
            if (shard != 0) continue;
            for (cJSON *m = it->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    qerr_set(err, "%s: __metadata__ value '%s' is not a string", path, m->string);
                    goto done;
                }
                st->meta_keys = xrealloc(st->meta_keys, (size_t)(st->nmeta + 1) * sizeof(char *));
                st->meta_vals = xrealloc(st->meta_vals, (size_t)(st->nmeta + 1) * sizeof(char *));
                st->meta_keys[st->nmeta] = xstrdup(m->string);
                st->meta_vals[st->nmeta++] = xstrdup(m->valuestring);
            }
            continue;
        }
        const char *name = it->string;
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *of = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        StTensor t;
        memset(&t, 0, sizeof t);
        if (!cJSON_IsString(dt) || dtype_parse(dt->valuestring, &t.dtype)) {
            qerr_set(err, "%s: tensor '%s': missing or unsupported dtype '%s' (expected F32, F16, BF16, I8, U8, I32, I64)",
                     path, name, cJSON_IsString(dt) ? dt->valuestring : "?");
            goto done;
        }
        if (!cJSON_IsArray(sp) || cJSON_GetArraySize(sp) > ST_MAX_DIMS) {
            qerr_set(err, "%s: tensor '%s': shape missing or has more than %d dims", path, name, ST_MAX_DIMS);
            goto done;
        }
        t.numel = 1;
        for (cJSON *d = sp->child; d; d = d->next) {
            if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e12 || d->valuedouble != floor(d->valuedouble)) {
                qerr_set(err, "%s: tensor '%s': bad shape entry", path, name);
                goto done;
            }
            int64_t dim = (int64_t)d->valuedouble;
            t.shape[t.ndim++] = dim;
            /* checked before multiplying, so the product cannot overflow */
            if (dim > 0 && t.numel > ((int64_t)1 << 40) / dim) {
                qerr_set(err, "%s: tensor '%s': shape too large", path, name);
                goto done;
            }
            t.numel *= dim;
        }
        if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || !cJSON_IsNumber(of->child) ||
            !cJSON_IsNumber(of->child->next) || of->child->valuedouble < 0 ||
            of->child->next->valuedouble < of->child->valuedouble ||
            of->child->valuedouble != floor(of->child->valuedouble) ||
            of->child->next->valuedouble != floor(of->child->next->valuedouble)) {
            qerr_set(err, "%s: tensor '%s': data_offsets must be [begin, end], integers with 0 <= begin <= end", path, name);
            goto done;
        }
        double b = of->child->valuedouble, e = of->child->next->valuedouble;
        if (e > (double)dlen) {
            qerr_set(err, "%s: tensor '%s': data_offsets [%.0f, %.0f] run past the data area (%zu bytes)", path,
                     name, b, e, dlen);
            goto done;
        }
        t.nbytes = (size_t)e - (size_t)b;
        if ((size_t)t.numel * dtype_sizes[t.dtype] != t.nbytes) {
            qerr_set(err, "%s: tensor '%s': %zu bytes in data_offsets but %s x %lld elements needs %zu", path, name,
                     t.nbytes, dtype_names[t.dtype], (long long)t.numel, (size_t)t.numel * dtype_sizes[t.dtype]);
            goto done;
        }
        t.data = sh->map.data + data0 + (size_t)b;
        t.shard = shard;
        t.name = xstrdup(name);
        st->tensors[st->ntensors++] = t;
        spans[nspan++] = (Span){(size_t)b, (size_t)e, st->tensors[st->ntensors - 1].name};
    }
    /* Sorted by start, each tensor is compared with the furthest end seen so far, not only
     * with its neighbour: an empty tensor (or a short one) between two overlapping ones would
     * otherwise hide the overlap.  Empty tensors own no bytes and overlap nothing. */
    qsort(spans, (size_t)nspan, sizeof(Span), span_cmp);
    size_t max_end = 0;
    const char *max_name = NULL;
    for (int i = 0; i < nspan; i++) {
        if (spans[i].e == spans[i].b) continue;
        if (max_name && spans[i].b < max_end) {
            qerr_set(err, "%s: tensors '%s' and '%s' overlap in the data area", path, max_name, spans[i].name);
            goto done;
        }
        if (spans[i].e > max_end) max_end = spans[i].e, max_name = spans[i].name;
    }
    /* names unique across all shards so far: sorted, not pairwise (a header of 10^5 tensors
     * would otherwise cost 10^10 comparisons); the sorted order is kept as st_find's index,
     * rebuilt after each shard because adding one moves the tensor array */
    free(st->by_name);
    st->by_name = xmalloc((size_t)st->ntensors * sizeof *st->by_name + 1);
    for (int i = 0; i < st->ntensors; i++) st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, (size_t)st->ntensors, sizeof *st->by_name, name_cmp);
    for (int i = 1; i < st->ntensors; i++)
        if (strcmp(st->by_name[i]->name, st->by_name[i - 1]->name) == 0) {
            qerr_set(err, "%s: tensor '%s' appears twice", path, st->by_name[i]->name);
            goto done;
        }
    rc = 0;
done:
    free(spans);
    cJSON_Delete(root);
    return rc;
}

int st_open(Safetensors *st, const char *path, QErr *err) {
    memset(st, 0, sizeof *st);
    if (add_shard(st, path, err)) {
        st_close(st);
        return -1;
    }
    return 0;
}

int st_open_dir(Safetensors *st, const char *dir, QErr *err) {
    memset(st, 0, sizeof *st);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (!qpath_exists(path)) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (!qpath_exists(path))
            return qerr_set(err, "%s: no model.safetensors or model.safetensors.index.json", dir);
        return st_open(st, path, err);
    }
    uint8_t *buf;
    size_t len;
    if (qfile_read_all(path, &buf, &len, err)) return -1;
    cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return qerr_set(err, "%s: no \"weight_map\" object", path);
    }
    /* The distinct shard files, in first-seen order. */
    char **files = NULL;
    int nf = 0, rc = 0;
    for (cJSON *it = wm->child; it; it = it->next) {
        if (!cJSON_IsString(it) || strchr(it->valuestring, '/')) {
            rc = qerr_set(err, "%s: weight_map entry '%s' is not a plain file name", path, it->string);
            break;
        }
        int seen = 0;
        for (int i = 0; i < nf; i++) seen |= strcmp(files[i], it->valuestring) == 0;
        if (!seen && nf == 4096) { /* bounds the pairwise search above, and the files opened */
            rc = qerr_set(err, "%s: weight_map names more than 4096 shard files", path);
            break;
        }
        if (!seen) {
            files = xrealloc(files, (size_t)(nf + 1) * sizeof(char *));
            files[nf++] = xstrdup(it->valuestring);
        }
    }
    for (int i = 0; i < nf && rc == 0; i++) {
        char sp[4096];
        snprintf(sp, sizeof sp, "%s/%s", dir, files[i]);
        rc = add_shard(st, sp, err);
    }
    /* Every tensor the index names must be in the shard it names. */
    for (cJSON *it = wm->child; it && rc == 0; it = it->next) {
        const StTensor *t = st_find(st, it->string);
        const char *in = NULL;
        if (t) {
            in = strrchr(st->shards[t->shard].path, '/');
            in = in ? in + 1 : st->shards[t->shard].path;
        }
        if (!t) rc = qerr_set(err, "%s: tensor '%s' is listed but missing from %s", path, it->string, it->valuestring);
        else if (strcmp(in, it->valuestring) != 0)
            rc = qerr_set(err, "%s: tensor '%s' is listed in %s but stored in %s", path, it->string, it->valuestring, in);
    }
    for (int i = 0; i < nf; i++) free(files[i]);
    free(files);
    cJSON_Delete(root);
    if (rc) st_close(st);
    return rc;
}

const StTensor *st_find(const Safetensors *st, const char *name) {
    if (!st->by_name) return NULL;
    const StTensor *const *t = bsearch(name, st->by_name, (size_t)st->ntensors, sizeof *st->by_name, key_cmp);
    return t ? *t : NULL;
}

const char *st_meta(const Safetensors *st, const char *key) {
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}

/* F16 -> F32 with F16C (vcvtph2ps is exact, as qf16_to_f32: every half is a float). */
__attribute__((target("avx2,f16c"))) static void f16_to_f32_f16c(const uint8_t *p, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i))));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        out[i] = qf16_to_f32(h);
    }
}

/* CPUID leaf 1, ECX bit 29 (clang's __builtin_cpu_supports does not know "f16c"), and AVX2. */
static int has_f16c(void) {
    /* asked once: CPUID traps to the hypervisor in a VM (~10 us), and row readers call this per chunk */
    static int known = -1; /* -1 not yet asked; every thread that asks stores the same answer */
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k < 0) {
        unsigned a, b, c, d;
        k = __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1) && __builtin_cpu_supports("avx2");
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k;
}

int st_to_f32(const StTensor *t, float *out, QErr *err) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32: memcpy(out, p, t->nbytes); return 0;
    case ST_F16:
        if (has_f16c()) {
            /* big tensors in row chunks over the threads (the file's pages are read here) */
            const int64_t chunk = 1 << 16, nch = (t->numel + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (nch > 4)
            for (int64_t c = 0; c < nch; c++) {
                int64_t i0 = c * chunk, n = t->numel - i0 < chunk ? t->numel - i0 : chunk;
                f16_to_f32_f16c(p + 2 * i0, out + i0, n);
            }
            return 0;
        }
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = qf16_to_f32(h);
        }
        return 0;
    case ST_BF16:
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = qbf16_to_f32(h);
        }
        return 0;
    default:
        return qerr_set(err, "tensor '%s': dtype %s is not a floating-point type", t->name, dtype_names[t->dtype]);
    }
}

int st_write_header(QWriter *w, const StWriteTensor *tensors, int n, const char *const *meta_keys,
                    const char *const *meta_vals, int nmeta, QErr *err) {
    cJSON *root = cJSON_CreateObject();
    if (nmeta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < nmeta; i++) cJSON_AddStringToObject(m, meta_keys[i], meta_vals[i]);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const StWriteTensor *t = &tensors[i];
        cJSON *o = cJSON_AddObjectToObject(root, t->name);
        cJSON_AddStringToObject(o, "dtype", dtype_names[t->dtype]);
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        size_t nb = st_write_nbytes(t);
        cJSON *of = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + nb)));
        off += nb;
    }
    char *js = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t jl = strlen(js), padded = (jl + 7) / 8 * 8;
    char *hdr = xmalloc(8 + padded);
    uint64_t h = padded;
    for (int i = 0; i < 8; i++) hdr[i] = (char)((h >> (8 * i)) & 0xff);
    memcpy(hdr + 8, js, jl);
    memset(hdr + 8 + jl, ' ', padded - jl);
    free(js);
    int rc = qwriter_write(w, hdr, 8 + padded, err);
    free(hdr);
    return rc;
}

size_t st_write_nbytes(const StWriteTensor *t) {
    size_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
    return numel * dtype_sizes[t->dtype];
}

int st_write(const char *path, const StWriteTensor *tensors, int n, const char *const *meta_keys,
             const char *const *meta_vals, int nmeta, QErr *err) {
    QWriter w;
    if (qwriter_open(&w, path, err)) return -1;
    int rc = st_write_header(&w, tensors, n, meta_keys, meta_vals, nmeta, err);
    for (int i = 0; i < n && rc == 0; i++) rc = qwriter_write(&w, tensors[i].data, st_write_nbytes(&tensors[i]), err);
    if (rc == 0) return qwriter_commit(&w, err);
    qwriter_abort(&w);
    return -1;
}
