/* tokenizer_bpe.c — Hugging Face BPE tokenizers behind the tokenizer.h interface:
 *   GPT-2 byte-level BPE (vocab.json + merges.txt, or tokenizer.json with a ByteLevel
 *   pre-tokenizer): the text is split by GPT-2's regex, each piece's UTF-8 bytes are mapped to
 *   printable characters (bytes_to_unicode) and merged by rank;
 *   Llama (tokenizer.json, SentencePiece-style): spaces become "▁" and one is prepended, the
 *   whole text is merged by rank, characters outside the vocabulary fall back to <0xXX> bytes.
 * Merging: the adjacent pair with the lowest merge rank first, leftmost among equals (a heap
 * over a linked list of symbols: O(n log n) even when the whole text is one word). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "quant/tokenizer.h"
#include "unicode.h"

/* ----------------------------------------------------------- hash maps */
typedef struct StrMap {
    const char **key;
    int *len;
    int32_t *val;
    uint32_t cap;
} StrMap;

static uint32_t fnv(const char *s, int n) {
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}
static void strmap_init(StrMap *m, int n) {
    for (m->cap = 16; m->cap < 2u * (uint32_t)n + 16; m->cap <<= 1) {
    }
    m->key = xcalloc(m->cap, sizeof(char *));
    m->len = xcalloc(m->cap, sizeof(int));
    m->val = xmalloc(m->cap * sizeof(int32_t));
}
static int32_t strmap_get(const StrMap *m, const char *s, int n) {
    for (uint32_t i = fnv(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->key[i]) return -1;
        if (m->len[i] == n && memcmp(m->key[i], s, (size_t)n) == 0) return m->val[i];
    }
}
static void strmap_put(StrMap *m, const char *s, int n, int32_t v) {
    uint32_t i = fnv(s, n) & (m->cap - 1);
    while (m->key[i]) {
        if (m->len[i] == n && memcmp(m->key[i], s, (size_t)n) == 0) return; /* first wins */
        i = (i + 1) & (m->cap - 1);
    }
    m->key[i] = s;
    m->len[i] = n;
    m->val[i] = v;
}
static void strmap_free(StrMap *m) {
    free(m->key);
    free(m->len);
    free(m->val);
}

typedef struct PairMap {
    uint64_t *key;   /* (a << 32 | b) + 1; 0 = empty */
    int32_t *rank, *merged;
    uint32_t cap;
} PairMap;
static uint32_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t)x;
}
static void pairmap_init(PairMap *m, int n) {
    for (m->cap = 16; m->cap < 2u * (uint32_t)n + 16; m->cap <<= 1) {
    }
    m->key = xcalloc(m->cap, sizeof(uint64_t));
    m->rank = xmalloc(m->cap * sizeof(int32_t));
    m->merged = xmalloc(m->cap * sizeof(int32_t));
}
static int pairmap_get(const PairMap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    for (uint32_t i = mix64(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->key[i]) return 0;
        if (m->key[i] == k) {
            *rank = m->rank[i];
            *merged = m->merged[i];
            return 1;
        }
    }
}
static void pairmap_put(PairMap *m, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    uint32_t i = mix64(k) & (m->cap - 1);
    while (m->key[i]) {
        if (m->key[i] == k) return; /* the first (lowest) rank wins */
        i = (i + 1) & (m->cap - 1);
    }
    m->key[i] = k;
    m->rank[i] = rank;
    m->merged[i] = merged;
}
static void pairmap_free(PairMap *m) {
    free(m->key);
    free(m->rank);
    free(m->merged);
}

/* ------------------------------------------------------------ the model */
enum { KIND_GPT2 = 0, KIND_LLAMA = 1 };

typedef struct Bpe {
    int kind;
    char **tok;           /* [V] token strings as in the vocabulary (NUL-terminated) */
    int *toklen;          /* [V] */
    StrMap vocab;
    PairMap merges;
    int32_t byte_tok[256];     /* GPT-2: token of each byte's character; Llama: <0xXX> */
    uint32_t byte_to_cp[256];  /* GPT-2's bytes_to_unicode */
    int32_t cp_to_byte[324];   /* its inverse (code points < 324), -1 elsewhere */
} Bpe;

static void bpe_free(Tokenizer *t) {
    Bpe *b = t->impl;
    if (!b) return;
    for (int i = 0; i < t->vocab_size; i++) free(b->tok[i]);
    free(b->tok);
    free(b->toklen);
    strmap_free(&b->vocab);
    pairmap_free(&b->merges);
    free(b);
}

/* GPT-2's reversible map of the 256 bytes to printable code points. */
static void bytes_to_unicode(Bpe *b) {
    int n = 0;
    for (int i = 0; i < 324; i++) b->cp_to_byte[i] = -1;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        b->byte_to_cp[c] = printable ? (uint32_t)c : (uint32_t)(256 + n++);
        b->cp_to_byte[b->byte_to_cp[c]] = c;
    }
}

static int utf8_put(uint32_t cp, char *out) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) return out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000)
        return out[0] = (char)(0xE0 | cp >> 12), out[1] = (char)(0x80 | (cp >> 6 & 63)), out[2] = (char)(0x80 | (cp & 63)), 3;
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 63));
    out[2] = (char)(0x80 | (cp >> 6 & 63));
    out[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* ------------------------------------------------------------- merging */
typedef struct Sym {
    int32_t id;       /* token id, or -1 - (byte offset) for a character outside the vocabulary */
    int prev, next;
    int n;            /* bytes of source text it covers (for unknown characters) */
} Sym;
typedef struct Cand {
    int32_t rank, left, right, merged;
} Cand;
static int cand_before(const Cand *a, const Cand *b) { return a->rank < b->rank || (a->rank == b->rank && a->left < b->left); }
static void heap_push(Cand **h, int *n, int *cap, Cand c) {
    if (*n == *cap) *h = xrealloc(*h, (size_t)(*cap = *cap ? *cap * 2 : 256) * sizeof(Cand));
    int i = (*n)++;
    while (i > 0 && cand_before(&c, &(*h)[(i - 1) / 2])) {
        (*h)[i] = (*h)[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    (*h)[i] = c;
}
static Cand heap_pop(Cand *h, int *n) {
    Cand top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        const Cand *best = &last;
        if (l < *n && cand_before(&h[l], best)) m = l, best = &h[l];
        if (r < *n && cand_before(&h[r], best)) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n) h[i] = last;
    return top;
}
static void consider(const Bpe *b, Sym *sy, int a, Cand **h, int *hn, int *hcap) {
    int c = sy[a].next;
    if (a < 0 || c < 0 || sy[a].id < 0 || sy[c].id < 0) return;
    int32_t rank, merged;
    if (pairmap_get(&b->merges, sy[a].id, sy[c].id, &rank, &merged)) heap_push(h, hn, hcap, (Cand){rank, a, c, merged});
}

/* Merges the symbols in place and appends the resulting ids (unknown characters as their
 * byte-fallback tokens) to out. */
static void merge_emit(const Bpe *b, Sym *sy, int ns, const char *src, int32_t **out, int64_t *n, int64_t *cap) {
    Cand *h = NULL;
    int hn = 0, hcap = 0;
    for (int i = 0; i + 1 < ns; i++) consider(b, sy, i, &h, &hn, &hcap);
    while (hn) {
        Cand c = heap_pop(h, &hn);
        if (sy[c.left].id < -0x40000000 || sy[c.right].id < -0x40000000 || sy[c.left].next != c.right) continue;
        int32_t rank, merged;
        if (!pairmap_get(&b->merges, sy[c.left].id, sy[c.right].id, &rank, &merged) || merged != c.merged) continue;
        sy[c.left].id = c.merged;
        sy[c.right].id = -0x7fffffff; /* dead */
        sy[c.left].next = sy[c.right].next;
        if (sy[c.right].next >= 0) sy[sy[c.right].next].prev = c.left;
        if (sy[c.left].prev >= 0) consider(b, sy, sy[c.left].prev, &h, &hn, &hcap);
        consider(b, sy, c.left, &h, &hn, &hcap);
    }
    free(h);
    for (int i = 0; i >= 0 && i < ns; i = sy[i].next) {
        if (*n + 8 > *cap) *out = xrealloc(*out, (size_t)(*cap = *cap * 2 + 64) * sizeof(int32_t));
        if (sy[i].id >= 0) {
            (*out)[(*n)++] = sy[i].id;
        } else { /* byte fallback */
            int off = -1 - sy[i].id;
            for (int k = 0; k < sy[i].n; k++) (*out)[(*n)++] = b->byte_tok[(uint8_t)src[off + k]];
        }
    }
}

/* ---------------------------------------------------------------- GPT-2 */
typedef struct Span {
    size_t a, b;
} Span;

/* GPT-2's  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+  */
static size_t gpt2_next(const uint32_t *cp, size_t n, size_t i) {
    enum { L = 1, N = 2, S = 3, O = 4 };
#define CLS(c) (uni_is_letter(c) ? L : uni_is_number(c) ? N : uni_is_space(c) ? S : O)
    if (cp[i] == '\'' && i + 1 < n) {
        uint32_t a = cp[i + 1], b2 = i + 2 < n ? cp[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && b2 == 'e') || (a == 'v' && b2 == 'e') || (a == 'l' && b2 == 'l')) return i + 3;
    }
    int want[3] = {L, N, O};
    for (int w = 0; w < 3; w++) {
        size_t j = i;
        if (cp[j] == ' ' && j + 1 < n && CLS(cp[j + 1]) == want[w]) j++;
        if (CLS(cp[j]) != want[w]) continue;
        while (j < n && CLS(cp[j]) == want[w]) j++;
        return j;
    }
    size_t k = i;
    while (k < n && uni_is_space(cp[k])) k++;
    if (k == n || k - i == 1) return k;
    return k - 1;
#undef CLS
}

static int gpt2_encode(const Tokenizer *t, const char *text, size_t len, int32_t **ids, int64_t *n, int64_t *cap, QErr *err) {
    (void)err;
    const Bpe *b = t->impl;
    uint32_t *cp = xmalloc((len + 1) * sizeof(uint32_t));
    size_t *off = xmalloc((len + 1) * sizeof(size_t));
    size_t ncp = 0;
    for (size_t i = 0; i < len;) {
        off[ncp] = i;
        i += (size_t)uni_decode((const uint8_t *)text + i, len - i, &cp[ncp]);
        ncp++;
    }
    off[ncp] = len;
    Sym *sy = xmalloc((len + 1) * sizeof(Sym));
    for (size_t i = 0; i < ncp;) {
        size_t j = gpt2_next(cp, ncp, i);
        size_t a = off[i], e = off[j];
        int ns = 0;
        for (size_t k = a; k < e; k++, ns++) sy[ns] = (Sym){b->byte_tok[(uint8_t)text[k]], ns - 1, ns + 1, 1};
        sy[ns - 1].next = -1;
        merge_emit(b, sy, ns, text, ids, n, cap);
        i = j;
    }
    free(sy);
    free(cp);
    free(off);
    return 0;
}

static size_t gpt2_piece(const Tokenizer *t, int32_t prev, int32_t id, char *buf, size_t cap) {
    (void)prev;
    const Bpe *b = t->impl;
    const uint8_t *s = (const uint8_t *)b->tok[id];
    size_t n = (size_t)b->toklen[id], o = 0;
    for (size_t i = 0; i < n && o < cap;) {
        uint32_t c;
        i += (size_t)uni_decode(s + i, n - i, &c);
        buf[o++] = c < 324 && b->cp_to_byte[c] >= 0 ? (char)b->cp_to_byte[c] : '?';
    }
    return o;
}

/* ---------------------------------------------------------------- Llama */
static int llama_encode(const Tokenizer *t, const char *text, size_t len, int32_t **ids, int64_t *n, int64_t *cap, QErr *err) {
    (void)err;
    const Bpe *b = t->impl;
    if (len == 0) return 0;
    /* normalise: "▁" + text with every ' ' replaced by "▁" */
    char *s = xmalloc(3 * (len + 1) + 1);
    size_t sl = 0;
    memcpy(s, "\xe2\x96\x81", 3);
    sl = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s + sl, "\xe2\x96\x81", 3);
            sl += 3;
        } else {
            s[sl++] = text[i];
        }
    }
    Sym *sy = xmalloc((sl + 1) * sizeof(Sym));
    int ns = 0;
    for (size_t i = 0; i < sl;) {
        uint32_t c;
        int k = uni_decode((const uint8_t *)s + i, sl - i, &c);
        int32_t id = strmap_get(&b->vocab, s + i, k);
        sy[ns] = (Sym){id >= 0 ? id : -1 - (int32_t)i, ns - 1, ns + 1, k};
        ns++;
        i += (size_t)k;
    }
    sy[ns - 1].next = -1;
    merge_emit(b, sy, ns, s, ids, n, cap);
    free(sy);
    free(s);
    return 0;
}

static size_t llama_piece(const Tokenizer *t, int32_t prev, int32_t id, char *buf, size_t cap) {
    const Bpe *b = t->impl;
    const char *p = b->tok[id];
    size_t n = (size_t)b->toklen[id], o = 0;
    unsigned int byte;
    if (n == 6 && sscanf(p, "<0x%02X>", &byte) == 1) {
        if (cap) buf[o++] = (char)byte;
        return o;
    }
    int first = prev < 0 || prev == t->bos_id;
    for (size_t i = 0; i < n && o < cap;) {
        if (i + 3 <= n && memcmp(p + i, "\xe2\x96\x81", 3) == 0) {
            if (!(first && o == 0 && i == 0)) buf[o++] = ' ';
            i += 3;
        } else {
            buf[o++] = p[i++];
        }
    }
    return o;
}

/* GGUF's "gpt2" view: the byte-level token strings, <|endoftext|> as a control token, the
 * merges "a b" in rank order (gaps from duplicate merges closed up). */
static int gpt2_vocab(const Tokenizer *t, TokenizerVocab *out, QErr *err) {
    (void)err;
    const Bpe *b = t->impl;
    int32_t n = t->vocab_size;
    out->model = "gpt2";
    out->n = n;
    out->tok = xcalloc((size_t)n, sizeof(char *));
    out->len = xcalloc((size_t)n, sizeof(int));
    out->type = xmalloc((size_t)n * sizeof(int32_t));
    for (int32_t i = 0; i < n; i++) {
        out->tok[i] = xstrdup(b->tok[i]);
        out->len[i] = b->toklen[i];
        out->type[i] = i == t->bos_id || i == t->eos_id ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_NORMAL;
    }
    int64_t cnt = 0;
    int32_t maxr = -1;
    for (uint32_t i = 0; i < b->merges.cap; i++)
        if (b->merges.key[i]) cnt++, maxr = b->merges.rank[i] > maxr ? b->merges.rank[i] : maxr;
    char **byrank = xcalloc((size_t)maxr + 2, sizeof(char *));
    for (uint32_t i = 0; i < b->merges.cap; i++) {
        if (!b->merges.key[i]) continue;
        uint64_t k = b->merges.key[i] - 1;
        int32_t x = (int32_t)(k >> 32), y = (int32_t)(k & 0xffffffffu);
        size_t lx = (size_t)b->toklen[x], ly = (size_t)b->toklen[y];
        char *m = xmalloc(lx + ly + 2);
        memcpy(m, b->tok[x], lx);
        m[lx] = ' ';
        memcpy(m + lx + 1, b->tok[y], ly);
        m[lx + ly + 1] = 0;
        byrank[b->merges.rank[i]] = m;
    }
    out->merges = xmalloc((size_t)(cnt ? cnt : 1) * sizeof(char *));
    for (int32_t r = 0; r <= maxr; r++)
        if (byrank[r]) out->merges[out->n_merges++] = byrank[r];
    free(byrank);
    out->bos = t->bos_id;
    out->eos = t->eos_id;
    out->unk = -1;
    out->add_bos = t->add_bos;
    return 0;
}

static const TokenizerVtbl gpt2_vtbl = {"gpt2-bpe", gpt2_encode, gpt2_piece, bpe_free, gpt2_vocab};
static const TokenizerVtbl llama_vtbl = {"llama-bpe", llama_encode, llama_piece, bpe_free, NULL};

/* ------------------------------------------------------------- loading */
static void add_token(Tokenizer *t, Bpe *b, const char *s, int32_t id) {
    if (id < 0 || id >= t->vocab_size || b->tok[id]) return;
    b->tok[id] = xstrdup(s);
    b->toklen[id] = (int)strlen(s);
}

/* vocab object {token: id}; returns -1 + err on a malformed entry */
static int load_vocab(Tokenizer *t, Bpe *b, const cJSON *vocab, const cJSON *added, const char *path, QErr *err) {
    int32_t maxid = -1;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1e7)
            return qerr_set(err, "%s: vocabulary entry '%s' has no valid id", path, e->string ? e->string : "?");
        if ((int32_t)e->valuedouble > maxid) maxid = (int32_t)e->valuedouble;
    }
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < 1e7 && (int32_t)id->valuedouble > maxid)
            maxid = (int32_t)id->valuedouble;
    }
    if (maxid < 0) return qerr_set(err, "%s: empty vocabulary", path);
    t->vocab_size = maxid + 1;
    b->tok = xcalloc((size_t)t->vocab_size, sizeof(char *));
    b->toklen = xcalloc((size_t)t->vocab_size, sizeof(int));
    for (const cJSON *e = vocab->child; e; e = e->next) add_token(t, b, e->string, (int32_t)e->valuedouble);
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id"), *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (cJSON_IsNumber(id) && cJSON_IsString(c)) add_token(t, b, c->valuestring, (int32_t)id->valuedouble);
    }
    for (int32_t i = 0; i < t->vocab_size; i++)
        if (!b->tok[i]) b->tok[i] = xstrdup(""); /* holes: never produced */
    strmap_init(&b->vocab, t->vocab_size);
    for (int32_t i = 0; i < t->vocab_size; i++)
        if (b->toklen[i]) strmap_put(&b->vocab, b->tok[i], b->toklen[i], i);
    return 0;
}

/* one merge "a b" (or ["a", "b"]) of the given rank */
static int add_merge(Bpe *b, const char *a, size_t la, const char *c, size_t lc, int32_t rank, const char *path, QErr *err) {
    char buf[1024];
    if (la + lc >= sizeof buf) return qerr_set(err, "%s: merge %d is too long", path, rank);
    int32_t ia = strmap_get(&b->vocab, a, (int)la), ic = strmap_get(&b->vocab, c, (int)lc);
    memcpy(buf, a, la);
    memcpy(buf + la, c, lc);
    int32_t im = strmap_get(&b->vocab, buf, (int)(la + lc));
    if (ia < 0 || ic < 0 || im < 0)
        return qerr_set(err, "%s: merge %d ('%.*s' '%.*s') names a token missing from the vocabulary", path, rank, (int)la, a,
                        (int)lc, c);
    pairmap_put(&b->merges, ia, ic, rank, im);
    return 0;
}

static int finish(Tokenizer *t, Bpe *b, int kind, const char *path, QErr *err) {
    b->kind = kind;
    char s[8];
    for (int c = 0; c < 256; c++) {
        if (kind == KIND_GPT2) {
            int k = utf8_put(b->byte_to_cp[c], s);
            b->byte_tok[c] = strmap_get(&b->vocab, s, k);
        } else {
            snprintf(s, sizeof s, "<0x%02X>", c);
            b->byte_tok[c] = strmap_get(&b->vocab, s, 6);
        }
        if (b->byte_tok[c] < 0)
            return qerr_set(err, "%s: no token for byte 0x%02X (%s)", path, c,
                            kind == KIND_GPT2 ? "a byte-level vocabulary needs all 256" : "byte fallback needs <0x00>..<0xFF>");
    }
    t->vt = kind == KIND_GPT2 ? &gpt2_vtbl : &llama_vtbl;
    if (kind == KIND_GPT2) {
        t->bos_id = t->eos_id = strmap_get(&b->vocab, "<|endoftext|>", 13);
        t->add_bos = 0;
    } else {
        t->bos_id = strmap_get(&b->vocab, "<s>", 3);
        t->eos_id = strmap_get(&b->vocab, "</s>", 4);
        t->add_bos = t->bos_id >= 0;
    }
    return 0;
}

static int has_type(const cJSON *node, const char *type, const char *list_key) {
    if (!node || cJSON_IsNull(node)) return 0;
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(node, "type");
    if (cJSON_IsString(ty) && strcmp(ty->valuestring, type) == 0) return 1;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(node, list_key);
    for (const cJSON *e = list ? list->child : NULL; e; e = e->next)
        if (has_type(e, type, list_key)) return 1;
    return 0;
}

static int load_tokenizer_json(Tokenizer *t, Bpe *b, const char *path, QErr *err) {
    uint8_t *data;
    size_t len;
    if (qfile_read_all(path, &data, &len, err)) return -1;
    cJSON *root = cJSON_ParseWithLength((const char *)data, len);
    free(data);
    if (!root) return qerr_set(err, "%s: not valid JSON", path);
    int rc = -1;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(model) || !cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0) {
        qerr_set(err, "%s: unsupported tokenizer.json model (only BPE is supported)", path);
        goto out;
    }
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        qerr_set(err, "%s: model.vocab must be an object and model.merges a list", path);
        goto out;
    }
    int kind;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (has_type(pre, "ByteLevel", "pretokenizers")) kind = KIND_GPT2;
    else if (has_type(norm, "Prepend", "normalizers") || has_type(pre, "Metaspace", "pretokenizers")) kind = KIND_LLAMA;
    else {
        qerr_set(err, "%s: unsupported tokenizer.json: neither a ByteLevel pre-tokenizer (GPT-2) nor a "
                 "'▁'-prepending normalizer (Llama)", path);
        goto out;
    }
    if (load_vocab(t, b, vocab, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), path, err)) goto out;
    pairmap_init(&b->merges, cJSON_GetArraySize(merges));
    int32_t rank = 0;
    for (const cJSON *m = merges->child; m; m = m->next, rank++) {
        if (cJSON_IsString(m)) {
            const char *sp = strchr(m->valuestring, ' ');
            if (!sp) {
                qerr_set(err, "%s: merge %d '%s' is not two tokens", path, rank, m->valuestring);
                goto out;
            }
            const char *c = sp + 1, *e = strchr(c, ' ');
            if (add_merge(b, m->valuestring, (size_t)(sp - m->valuestring), c, e ? (size_t)(e - c) : strlen(c), rank, path, err))
                goto out;
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
            const char *a = m->child->valuestring, *c = m->child->next->valuestring;
            if (add_merge(b, a, strlen(a), c, strlen(c), rank, path, err)) goto out;
        } else {
            qerr_set(err, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", path, rank);
            goto out;
        }
    }
    rc = finish(t, b, kind, path, err);
out:
    cJSON_Delete(root);
    return rc;
}

static int load_vocab_merges(Tokenizer *t, Bpe *b, const char *vpath, const char *mpath, QErr *err) {
    uint8_t *data;
    size_t len;
    if (qfile_read_all(vpath, &data, &len, err)) return -1;
    cJSON *vocab = cJSON_ParseWithLength((const char *)data, len);
    free(data);
    if (!cJSON_IsObject(vocab)) {
        cJSON_Delete(vocab);
        return qerr_set(err, "%s: not a JSON object of token -> id", vpath);
    }
    int rc = load_vocab(t, b, vocab, NULL, vpath, err);
    cJSON_Delete(vocab);
    if (rc) return -1;
    if (qfile_read_all(mpath, &data, &len, err)) return -1;
    int lines = 1;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    pairmap_init(&b->merges, lines);
    int32_t rank = 0;
    char *p = (char *)data, *end = p + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        if (le > p && le[-1] == '\r') le--;
        if (le > p && !(p[0] == '#' && rank == 0 && strncmp(p, "#version", 8) == 0)) {
            char *sp = memchr(p, ' ', (size_t)(le - p));
            if (!sp) {
                rc = qerr_set(err, "%s: line '%.40s' is not two tokens", mpath, p);
                break;
            }
            char *e2 = memchr(sp + 1, ' ', (size_t)(le - sp - 1));
            if ((rc = add_merge(b, p, (size_t)(sp - p), sp + 1, (size_t)((e2 ? e2 : le) - sp - 1), rank, mpath, err))) break;
            rank++;
        }
        p = nl ? nl + 1 : end;
    }
    free(data);
    if (rc) return -1;
    return finish(t, b, KIND_GPT2, vpath, err);
}

int tokenizer_load_hf(Tokenizer **out, const char *path, QErr *err) {
    *out = NULL;
    char tj[4096], vj[4096], mt[4096];
    const char *file = NULL;
    if (qpath_is_dir(path)) {
        snprintf(tj, sizeof tj, "%s/tokenizer.json", path);
        snprintf(vj, sizeof vj, "%s/vocab.json", path);
        snprintf(mt, sizeof mt, "%s/merges.txt", path);
        if (qpath_exists(tj)) file = tj;
        else if (!qpath_exists(vj) || !qpath_exists(mt))
            return qerr_set(err, "%s: no tokenizer.json, nor vocab.json + merges.txt", path);
    } else if (qpath_exists(path)) {
        file = path;
    } else {
        return qerr_set(err, "%s: no such tokenizer file or directory", path);
    }
    Tokenizer *t = xcalloc(1, sizeof *t);
    Bpe *b = xcalloc(1, sizeof *b);
    t->impl = b;
    t->vt = &gpt2_vtbl; /* for bpe_free on failure */
    bytes_to_unicode(b);
    int rc = file ? load_tokenizer_json(t, b, file, err) : load_vocab_merges(t, b, vj, mt, err);
    if (rc) {
        if (b->merges.key == NULL) pairmap_init(&b->merges, 0);
        if (b->vocab.key == NULL) strmap_init(&b->vocab, 0);
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int tokenizer_bpe_from_vocab(Tokenizer **out, const TokenizerVocab *v, const char *path, QErr *err) {
    *out = NULL;
    Tokenizer *t = xcalloc(1, sizeof *t);
    Bpe *b = xcalloc(1, sizeof *b);
    t->impl = b;
    t->vt = &gpt2_vtbl;
    t->vocab_size = v->n;
    bytes_to_unicode(b);
    b->tok = xcalloc((size_t)v->n, sizeof(char *));
    b->toklen = xcalloc((size_t)v->n, sizeof(int));
    for (int32_t i = 0; i < v->n; i++) {
        b->tok[i] = xmalloc((size_t)v->len[i] + 1);
        memcpy(b->tok[i], v->tok[i], (size_t)v->len[i]);
        b->tok[i][v->len[i]] = 0;
        b->toklen[i] = (int)strlen(b->tok[i]); /* an embedded NUL ends the token */
    }
    strmap_init(&b->vocab, v->n);
    for (int32_t i = 0; i < v->n; i++)
        if (b->toklen[i]) strmap_put(&b->vocab, b->tok[i], b->toklen[i], i);
    pairmap_init(&b->merges, (int)(v->n_merges < (1 << 24) ? v->n_merges : (1 << 24)));
    int rc = v->n_merges < (1 << 24) ? 0 : qerr_set(err, "%s: %lld merges (at most 2^24)", path, (long long)v->n_merges);
    for (int64_t r = 0; r < v->n_merges && rc == 0; r++) {
        const char *m = v->merges[r], *sp = strchr(m, ' ');
        if (!sp) rc = qerr_set(err, "%s: merge %lld '%.40s' is not two tokens", path, (long long)r, m);
        else rc = add_merge(b, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), (int32_t)r, path, err);
    }
    if (rc == 0) rc = finish(t, b, KIND_GPT2, path, err);
    if (rc) {
        tokenizer_free(t);
        return -1;
    }
    if (v->bos >= 0 && v->bos < v->n) t->bos_id = v->bos;
    if (v->eos >= 0 && v->eos < v->n) t->eos_id = v->eos;
    *out = t;
    return 0;
}
