/* tokenizer_llama2c.c — the llama2.c tokenizer.bin (SentencePiece-style BPE by merge score
 * with byte fallback), behind the tokenizer.h interface.
 * File: int32 max_token_length, then vocab_size records {float score, int32 len, len bytes}.
 * Encoding (as llama2.c's run.c and llama.cpp's SPM tokenizer): a space is prepended, each
 * UTF-8 code point becomes its piece or its bytes (<0xXX> = id 3 + byte), then the adjacent
 * pair whose concatenation is the highest-scoring piece is merged, leftmost first on ties,
 * until no pair merges.  A heap of candidate pairs makes that O(n log n) on long texts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/tokenizer.h"

typedef struct Vocab {
    char **piece;      /* [V] NUL-terminated */
    int *len;          /* [V] */
    float *score;      /* [V] */
    int32_t *table;    /* open-addressing hash: piece -> id, size cap */
    uint32_t cap;
    int byte_base;     /* id of <0x00>, or -1 */
} Vocab;

static uint32_t hash(const char *s, int n) {
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int32_t lookup(const Vocab *v, const char *s, int n) {
    for (uint32_t i = hash(s, n) & (v->cap - 1);; i = (i + 1) & (v->cap - 1)) {
        int32_t id = v->table[i];
        if (id < 0) return -1;
        if (v->len[id] == n && memcmp(v->piece[id], s, (size_t)n) == 0) return id;
    }
}

static void vocab_free(Tokenizer *t) {
    Vocab *v = t->impl;
    if (!v) return;
    for (int i = 0; i < t->vocab_size; i++) free(v->piece[i]);
    free(v->piece);
    free(v->len);
    free(v->score);
    free(v->table);
    free(v);
}

/* ------------------------------------------------------------ encoding */
typedef struct Sym {
    int32_t id;
    int prev, next;  /* linked list over symbols; -1 at the ends */
    int start, n;    /* byte span in the text */
} Sym;
typedef struct Cand {
    float score;
    int left, right;  /* symbol indices */
    int32_t id;       /* merged piece */
    int n;            /* merged length (to detect stale entries) */
} Cand;

static int cand_better(const Cand *a, const Cand *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}
static void heap_push(Cand **h, int *n, int *cap, Cand c) {
    if (*n == *cap) *h = xrealloc(*h, (size_t)(*cap = *cap ? *cap * 2 : 256) * sizeof(Cand));
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!cand_better(&c, &(*h)[p])) break;
        (*h)[i] = (*h)[p];
        i = p;
    }
    (*h)[i] = c;
}
static Cand heap_pop(Cand *h, int *n) {
    Cand top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, b = i;
        const Cand *best = &last;
        if (l < *n && cand_better(&h[l], best)) b = l, best = &h[l];
        if (r < *n && cand_better(&h[r], best)) b = r;
        if (b == i) break;
        h[i] = h[b];
        i = b;
    }
    if (*n) h[i] = last;
    return top;
}

static void try_pair(const Vocab *v, const char *text, Sym *sy, int a, Cand **h, int *hn, int *hcap) {
    int b = sy[a].next;
    if (a < 0 || b < 0) return;
    int n = sy[a].n + sy[b].n;
    int32_t id = lookup(v, text + sy[a].start, n);
    if (id < 0) return;
    Cand c = {v->score[id], a, b, id, n};
    heap_push(h, hn, hcap, c);
}

static int l2c_encode(const Tokenizer *t, const char *text0, size_t len0, int32_t **ids, int64_t *n, int64_t *cap,
                      QErr *err) {
    (void)err;
    const Vocab *v = t->impl;
    if (len0 == 0) return 0;
    /* the dummy prefix: encode " " + text */
    char *text = xmalloc(len0 + 2);
    text[0] = ' ';
    memcpy(text + 1, text0, len0);
    size_t len = len0 + 1;
    text[len] = 0;
    Sym *sy = xmalloc((len + 1) * sizeof(Sym));
    int ns = 0;
    for (size_t i = 0; i < len;) {
        size_t k = 1;
        unsigned char c = (unsigned char)text[i];
        if (c >= 0xC0) {  /* a UTF-8 lead byte: take its continuation bytes (at most 4 in all) */
            while (i + k < len && k < 4 && ((unsigned char)text[i + k] & 0xC0) == 0x80) k++;
        }
        int32_t id = lookup(v, text + i, (int)k);
        if (id >= 0) {
            sy[ns] = (Sym){id, ns - 1, ns + 1, (int)i, (int)k};
            ns++;
        } else {
            for (size_t j = 0; j < k; j++) {
                int32_t bid = v->byte_base >= 0 ? v->byte_base + (unsigned char)text[i + j] : 0;
                sy[ns] = (Sym){bid, ns - 1, ns + 1, (int)(i + j), 1};
                ns++;
            }
        }
        i += k;
    }
    sy[ns - 1].next = -1;
    Cand *h = NULL;
    int hn = 0, hcap = 0;
    for (int i = 0; i + 1 < ns; i++) try_pair(v, text, sy, i, &h, &hn, &hcap);
    while (hn) {
        Cand c = heap_pop(h, &hn);
        /* stale: one side already merged away or changed */
        if (sy[c.left].n == 0 || sy[c.right].n == 0 || sy[c.left].next != c.right ||
            sy[c.left].n + sy[c.right].n != c.n)
            continue;
        sy[c.left].id = c.id;
        sy[c.left].n = c.n;
        sy[c.right].n = 0;
        sy[c.left].next = sy[c.right].next;
        if (sy[c.right].next >= 0) sy[sy[c.right].next].prev = c.left;
        if (sy[c.left].prev >= 0) try_pair(v, text, sy, sy[c.left].prev, &h, &hn, &hcap);
        try_pair(v, text, sy, c.left, &h, &hn, &hcap);
    }
    for (int i = 0; i >= 0; i = sy[i].next) {
        if (*n == *cap) *ids = xrealloc(*ids, (size_t)(*cap = *cap * 2 + 16) * sizeof(int32_t));
        (*ids)[(*n)++] = sy[i].id;
    }
    free(h);
    free(sy);
    free(text);
    return 0;
}

static size_t l2c_piece(const Tokenizer *t, int32_t prev, int32_t id, char *buf, size_t cap) {
    const Vocab *v = t->impl;
    const char *p = v->piece[id];
    int n = v->len[id];
    /* the first piece after BOS (or at the start) drops the dummy-prefix space */
    if ((prev < 0 || prev == t->bos_id) && n > 0 && p[0] == ' ') {
        p++;
        n--;
    }
    unsigned int byte;
    if (n == 6 && sscanf(p, "<0x%02X>", &byte) == 1) {
        if (cap < 1) return 0;
        buf[0] = (char)byte;
        return 1;
    }
    if ((size_t)n > cap) n = (int)cap;
    memcpy(buf, p, (size_t)n);
    return (size_t)n;
}

/* piece -> id table (first occurrence wins) and the id of <0x00>; the byte-fallback ids
 * checked against the vocabulary (-1 + err when they do not fit). */
static int build_table(Tokenizer *t, Vocab *v, const char *path, QErr *err) {
    int32_t vocab_size = t->vocab_size;
    for (v->cap = 1; v->cap < 2u * (uint32_t)vocab_size; v->cap <<= 1) {
    }
    v->table = xmalloc(v->cap * sizeof(int32_t));
    memset(v->table, 0xff, v->cap * sizeof(int32_t));
    for (int i = 0; i < vocab_size; i++) {
        if (lookup(v, v->piece[i], v->len[i]) >= 0) continue; /* first occurrence wins */
        uint32_t k = hash(v->piece[i], v->len[i]) & (v->cap - 1);
        while (v->table[k] >= 0) k = (k + 1) & (v->cap - 1);
        v->table[k] = i;
    }
    v->byte_base = lookup(v, "<0x00>", 6);
    /* Byte fallback emits byte_base + byte: all 256 ids must exist and be the <0xXX> pieces,
     * else encode() would return ids past the vocabulary (an out-of-bounds embedding read) or
     * tokens that decode to other bytes. */
    if (v->byte_base >= 0) {
        if (v->byte_base > vocab_size - 256) {
            qerr_set(err, "%s: <0x00> is token %d but byte fallback needs ids %d..%d and the vocabulary has %d", path,
                     v->byte_base, v->byte_base, v->byte_base + 255, vocab_size);
            return -1;
        }
        for (int b = 0; b < 256; b++) {
            char want[8];
            snprintf(want, sizeof want, "<0x%02X>", b);
            if (v->len[v->byte_base + b] != 6 || memcmp(v->piece[v->byte_base + b], want, 6) != 0) {
                qerr_set(err, "%s: token %d is '%.16s' but byte fallback expects %s there (<0x00> is token %d)", path,
                         v->byte_base + b, v->piece[v->byte_base + b], want, v->byte_base);
                return -1;
            }
        }
    }
    return 0;
}

/* GGUF's SentencePiece view: spaces as U+2581, BOS / EOS as <s> / </s> (llama2.c writes them
 * with newlines around), <unk> unknown, <0xXX> bytes. */
static int l2c_vocab(const Tokenizer *t, TokenizerVocab *out, QErr *err) {
    (void)err;
    const Vocab *v = t->impl;
    int32_t n = t->vocab_size;
    out->model = "llama";
    out->n = n;
    out->tok = xcalloc((size_t)n, sizeof(char *));
    out->len = xcalloc((size_t)n, sizeof(int));
    out->score = xmalloc((size_t)n * sizeof(float));
    out->type = xmalloc((size_t)n * sizeof(int32_t));
    for (int32_t i = 0; i < n; i++) {
        const char *p = v->piece[i];
        int len = v->len[i];
        out->score[i] = v->score[i];
        out->type[i] = TOKEN_TYPE_NORMAL;
        unsigned byte;
        if (i == t->bos_id || i == t->eos_id) {
            p = i == t->bos_id ? "<s>" : "</s>";
            len = (int)strlen(p);
            out->type[i] = TOKEN_TYPE_CONTROL;
        } else if (len == 5 && memcmp(p, "<unk>", 5) == 0) {
            out->type[i] = TOKEN_TYPE_UNKNOWN;
        } else if (len == 6 && sscanf(p, "<0x%02X>", &byte) == 1) {
            out->type[i] = TOKEN_TYPE_BYTE;
        }
        char *s = xmalloc((size_t)len * 3 + 1);
        int k = 0;
        for (int j = 0; j < len; j++) {
            if (p[j] == ' ' && out->type[i] == TOKEN_TYPE_NORMAL) {
                memcpy(s + k, "\xe2\x96\x81", 3);
                k += 3;
            } else {
                s[k++] = p[j];
            }
        }
        s[k] = 0;
        out->tok[i] = s;
        out->len[i] = k;
    }
    out->bos = t->bos_id;
    out->eos = t->eos_id;
    out->unk = n > 0 && v->len[0] == 5 && memcmp(v->piece[0], "<unk>", 5) == 0 ? 0 : -1;
    out->add_bos = t->add_bos;
    return 0;
}

static const TokenizerVtbl l2c_vtbl = {"llama2c", l2c_encode, l2c_piece, vocab_free, NULL, l2c_vocab};

int tokenizer_llama2c_from_vocab(Tokenizer **out, const TokenizerVocab *src, const char *path, QErr *err) {
    *out = NULL;
    if (!src->score) return qerr_set(err, "%s: a llama vocabulary needs tokenizer.ggml.scores", path);
    Tokenizer *t = xcalloc(1, sizeof *t);
    Vocab *v = xcalloc(1, sizeof *v);
    t->vt = &l2c_vtbl;
    t->impl = v;
    t->vocab_size = src->n;
    v->piece = xcalloc((size_t)src->n, sizeof(char *));
    v->len = xcalloc((size_t)src->n, sizeof(int));
    v->score = xmalloc((size_t)src->n * sizeof(float));
    for (int32_t i = 0; i < src->n; i++) {
        if (src->len[i] > 1024) {
            tokenizer_free(t);
            return qerr_set(err, "%s: token %d is %d bytes long (at most 1024)", path, i, src->len[i]);
        }
        /* U+2581 back to the space llama2.c's pieces hold */
        char *s = xmalloc((size_t)src->len[i] + 1);
        int k = 0;
        for (int j = 0; j < src->len[i]; j++) {
            if (j + 2 < src->len[i] && memcmp(src->tok[i] + j, "\xe2\x96\x81", 3) == 0) {
                s[k++] = ' ';
                j += 2;
            } else {
                s[k++] = src->tok[i][j];
            }
        }
        s[k] = 0;
        v->piece[i] = s;
        v->len[i] = k;
        v->score[i] = isfinite(src->score[i]) ? src->score[i] : -1e30f;
    }
    if (build_table(t, v, path, err)) {
        tokenizer_free(t);
        return -1;
    }
    t->bos_id = src->bos >= 0 && src->bos < src->n ? src->bos : -1;
    t->eos_id = src->eos >= 0 && src->eos < src->n ? src->eos : -1;
    t->add_bos = src->add_bos && t->bos_id >= 0;
    *out = t;
    return 0;
}

int tokenizer_load_llama2c(Tokenizer **out, const char *path, int32_t vocab_size, QErr *err) {
    *out = NULL;
    uint8_t *buf;
    size_t len;
    if (qfile_read_all(path, &buf, &len, err)) return -1;
    if (vocab_size < 1) {
        free(buf);
        return qerr_set(err, "%s: vocabulary size %d", path, vocab_size);
    }
    /* budget: every record is at least 8 bytes, so a short file cannot ask for big tables */
    if (len < 4 || (uint64_t)vocab_size * 8 > len - 4) {
        qerr_set(err, "%s: %zu bytes cannot hold %d tokens (at least 8 bytes each after a 4-byte header)", path, len,
                 vocab_size);
        free(buf);
        return -1;
    }
    Tokenizer *t = xcalloc(1, sizeof *t);
    Vocab *v = xcalloc(1, sizeof *v);
    t->vt = &l2c_vtbl;
    t->impl = v;
    t->vocab_size = vocab_size;
    v->piece = xcalloc((size_t)vocab_size, sizeof(char *));
    v->len = xcalloc((size_t)vocab_size, sizeof(int));
    v->score = xcalloc((size_t)vocab_size, sizeof(float));
    size_t off = 4;
    if (len < 4) {
        qerr_set(err, "%s: truncated: %zu bytes, no header", path, len);
        goto fail;
    }
    for (int i = 0; i < vocab_size; i++) {
        if (off + 8 > len) {
            qerr_set(err, "%s: truncated at token %d of %d (offset %zu, file %zu bytes)", path, i, vocab_size, off, len);
            goto fail;
        }
        int32_t n;
        memcpy(&v->score[i], buf + off, 4);
        memcpy(&n, buf + off + 4, 4);
        off += 8;
        if (n < 0 || n > 1024 || off + (size_t)n > len) {
            qerr_set(err, "%s: token %d has length %d at offset %zu, past the end of the file (%zu bytes)", path, i, n,
                     off - 4, len);
            goto fail;
        }
        v->piece[i] = xmalloc((size_t)n + 1);
        memcpy(v->piece[i], buf + off, (size_t)n);
        v->piece[i][n] = 0;
        v->len[i] = n;
        off += (size_t)n;
    }
    if (off != len) {
        qerr_set(err, "%s: %zu trailing bytes after %d tokens (wrong vocabulary size for this model?)", path, len - off,
                 vocab_size);
        goto fail;
    }
    if (build_table(t, v, path, err)) goto fail;
    t->bos_id = vocab_size > 1 ? 1 : -1;
    t->eos_id = vocab_size > 2 ? 2 : -1;
    t->add_bos = 1;
    t->unk_id = vocab_size > 0 ? 0 : -1;
    t->pad_id = -1;
    free(buf);
    *out = t;
    return 0;
fail:
    free(buf);
    tokenizer_free(t);
    return -1;
}
