/* fuzz_common.h — what the fuzz harnesses (tests/fuzz/fuzz_*.c) share: inputs written to a
 * private temporary directory (the readers take paths), inputs split into several files, a
 * short forward pass of a loaded language model, and the invariants every accepted
 * safetensors set must satisfy.  Each harness defines LLVMFuzzerTestOneInput; it is linked
 * either with libFuzzer (make fuzz) or with replay_main.c (make test replays the regression
 * inputs and the seeds under gcc's ASan + UBSan).
 *
 * A property that does not hold is reported with fz_fail(), which aborts: libFuzzer and the
 * replay both count that as a crash and keep the input. */
#ifndef QUANT_FUZZ_COMMON_H
#define QUANT_FUZZ_COMMON_H

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant/core.h"
#include "quant/llm.h"
#include "quant/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn, format(printf, 1, 2))) static inline void fz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz property violated: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static char fz_dir_[256];

static inline void fz_rm_rf(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        size_t l = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(l);
        snprintf(p, l, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            fz_rm_rf(p);
            rmdir(p);
        } else {
            unlink(p);
        }
        free(p);
    }
    closedir(d);
}
static inline void fz_cleanup(void) {
    if (fz_dir_[0]) {
        fz_rm_rf(fz_dir_);
        rmdir(fz_dir_);
    }
}

/* The harness's private directory (created once, removed at exit). */
static inline const char *fz_dir(void) {
    if (!fz_dir_[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fz_dir_, sizeof fz_dir_, "%s/quant-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fz_dir_)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fz_cleanup);
    }
    return fz_dir_;
}

/* Writes bytes to <dir>/<name> (truncating); returns the path in a static buffer (8 in turn). */
static inline const char *fz_write(const char *name, const void *data, size_t n) {
    static char paths[8][600];
    static int k;
    char *p = paths[k++ & 7];
    snprintf(p, 600, "%s/%s", fz_dir(), name);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (n) fwrite(data, 1, n, f);
    fclose(f);
    return p;
}

/* A fresh empty subdirectory <dir>/<name>. */
static inline const char *fz_subdir(const char *name) {
    static char p[600];
    snprintf(p, sizeof p, "%s/%s", fz_dir(), name);
    fz_rm_rf(p);
    mkdir(p, 0700);
    return p;
}

/* Inputs that hold several files separate them with this line (seeds.sh writes it too). */
#define FZ_SEP "\n#@#@#\n"

/* Splits data at FZ_SEP into at most max parts; returns the count (>= 1). */
static inline int fz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int max) {
    const size_t sl = sizeof FZ_SEP - 1;
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; n + 1 < max && i + sl <= size; i++)
        if (memcmp(data + i, FZ_SEP, sl) == 0) {
            part[n] = data + start;
            len[n++] = i - start;
            start = i + sl;
            i += sl - 1;
        }
    part[n] = data + start;
    len[n++] = size - start;
    for (int i = n; i < max; i++) part[i] = data + size, len[i] = 0;
    return n;
}

/* A short forward pass (3 tokens, ids at both ends of the vocabulary), when the state it
 * needs is small: the KV cache and attention scores are sized by max_seq, which the user
 * controls at run time, not by the file. */
static inline void fz_forward(const LlmModel *m) {
    const LlmConfig *c = &m->c;
    int T = c->max_seq < 3 ? c->max_seq : 3;
    double hs = (double)c->dim / c->n_heads, kvd = hs * c->n_kv_heads;
    double floats = 2.0 * c->n_layers * c->max_seq * kvd + (double)c->n_heads * T * c->max_seq +
                    (double)T * c->vocab_size + (double)c->max_seq * hs + 6.0 * T * (c->dim + c->hidden_dim);
    if (floats * 4 > 256e6) return;
    LlmState s;
    llm_state_init(&s, m, T);
    int32_t tok[3] = {0, c->vocab_size - 1, c->vocab_size / 2};
    llm_forward(m, &s, tok, T, 0, NULL, NULL);
    llm_state_free(&s);
}

/* Every accepted tensor lies inside its shard's data area, has the byte count its dtype and
 * shape imply, and overlaps no other tensor of its shard. */
static inline void fz_check_safetensors(const Safetensors *st) {
    for (int i = 0; i < st->ntensors; i++) {
        const StTensor *t = &st->tensors[i];
        const StShard *sh = &st->shards[t->shard];
        if (t->data < sh->map.data || t->nbytes > sh->map.len || t->data + t->nbytes > sh->map.data + sh->map.len)
            fz_fail("tensor '%s' outside its file", t->name);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
        if (numel != t->numel || (size_t)numel * st_dtype_size(t->dtype) != t->nbytes)
            fz_fail("tensor '%s': %zu bytes for %lld elements", t->name, t->nbytes, (long long)numel);
        for (int j = 0; j < i; j++) {
            const StTensor *u = &st->tensors[j];
            if (u->shard != t->shard || !t->nbytes || !u->nbytes) continue;
            if (t->data < u->data + u->nbytes && u->data < t->data + t->nbytes)
                fz_fail("tensors '%s' and '%s' overlap", t->name, u->name);
        }
        if (st_find(st, t->name) != t) fz_fail("tensor name '%s' not unique", t->name);
    }
}

/* A llama2.c tokenizer.bin: max piece length 6, <unk> <s> </s>, the 256 byte-fallback pieces
 * <0x00>..<0xFF> (score 0), then `n` pieces with their scores (the harnesses and seeds.c). */
static inline void fz_write_tokbin(FILE *f, int n, const char *const *pieces, const float *scores) {
    int32_t maxlen = 6;
    fwrite(&maxlen, 4, 1, f);
    char s[8];
    for (int i = 0; i < 3 + 256 + n; i++) {
        const char *p = i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : i < 259 ? s : pieces[i - 259];
        if (i >= 3 && i < 259) snprintf(s, sizeof s, "<0x%02X>", i - 3);
        float score = i < 259 ? 0.0f : scores[i - 259];
        int32_t len = (int32_t)strlen(p);
        fwrite(&score, 4, 1, f);
        fwrite(&len, 4, 1, f);
        fwrite(p, 1, (size_t)len, f);
    }
}

#endif
