/* tokenizer_bpe.c — Hugging Face BPE tokenizers behind the tokenizer.h interface, run as
 * Hugging Face tokenizers runs them (tokenizer_bpe.h): added tokens split off the text, the
 * normalizer (Prepend, Replace), the pre-tokenizer (ByteLevel, Split by the GPT-2 / Llama-3
 * regex, Metaspace) cutting words, BPE on each word.  GPT-2's vocab.json + merges.txt are the
 * same pipeline with a ByteLevel pre-tokenizer.
 * Merging: the adjacent pair with the lowest merge rank first, leftmost among equals (a heap
 * over a linked list of symbols: O(n log n) even when the whole text is one word).
 * Characters outside the vocabulary: <0xXX> byte tokens when byte_fallback and all exist,
 * else the unknown token (consecutive ones fused when fuse_unk), else dropped. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "quant/tokenizer.h"
#include "tokenizer_bpe.h"
#include "unicode.h"

/* ----------------------------------------------------------- hash maps */

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

static uint32_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t)x;
}
void bpe_pairmap_init(PairMap *m, int n) {
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
int32_t bpe_lookup(const Bpe *b, const char *s, int n) { return strmap_get(&b->vocab, s, n); }

static void bpe_free(Tokenizer *t) {
    Bpe *b = t->impl;
    if (!b) return;
    for (int i = 0; b->tok && i < t->vocab_size; i++) free(b->tok[i]);
    free(b->tok);
    free(b->toklen);
    for (int i = 0; i < b->nextra; i++) free(b->extra[i]);
    free(b->extra);
    if (b->vocab.key) strmap_free(&b->vocab);
    if (b->merges.key) pairmap_free(&b->merges);
    for (int i = 0; i < b->nnorm; i++) free(b->norm[i].a), free(b->norm[i].b);
    for (int i = 0; i < b->nadded; i++) free(b->added[i].s);
    free(b->added);
    free(b->is_special);
    free(b->template_first);
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

/* ------------------------------------------------------------ one word */
/* A growable byte string. */
typedef struct Buf {
    char *p;
    size_t n, cap;
} Buf;
static void buf_put(Buf *s, const char *p, size_t n) {
    if (s->n + n + 1 > s->cap) s->p = xrealloc(s->p, s->cap = (s->n + n + 1) * 2 + 16);
    memcpy(s->p + s->n, p, n);
    s->n += n;
    s->p[s->n] = 0;
}

static void push_id(int32_t **out, int64_t *n, int64_t *cap, int32_t id) {
    if (*n + 1 > *cap) *out = xrealloc(*out, (size_t)(*cap = *cap * 2 + 64) * sizeof(int32_t));
    (*out)[(*n)++] = id;
}

/* BPE on one word w[0, len) (already byte-mapped when byte-level). */
static void bpe_word(const Bpe *b, const char *w, size_t len, int32_t **out, int64_t *n, int64_t *cap) {
    if (len == 0) return;
    if (b->ignore_merges) {
        int32_t id = strmap_get(&b->vocab, w, (int)len);
        if (id >= 0) {
            push_id(out, n, cap, id);
            return;
        }
    }
    Sym *sy = xmalloc((len + 1) * sizeof(Sym));
    int ns = 0, prev_unk = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int k = uni_decode((const uint8_t *)w + i, len - i, &c);
        int32_t id = strmap_get(&b->vocab, w + i, k);
        int fallback = 0;
        if (id < 0 && b->byte_fallback) {
            fallback = 1;
            for (int j = 0; j < k; j++) fallback &= b->byte_tok[(uint8_t)w[i + (size_t)j]] >= 0;
        }
        if (id >= 0 || fallback) {
            sy[ns] = (Sym){id >= 0 ? id : -1 - (int32_t)i, ns - 1, ns + 1, k};
            ns++;
            prev_unk = 0;
        } else if (b->unk_id >= 0 && !(b->fuse_unk && prev_unk)) {
            sy[ns] = (Sym){b->unk_id, ns - 1, ns + 1, k};
            ns++;
            prev_unk = 1;
        }
        i += (size_t)k;
    }
    if (ns) {
        sy[ns - 1].next = -1;
        merge_emit(b, sy, ns, w, out, n, cap);
    }
    free(sy);
}

/* ------------------------------------------------------- pre-tokenizers */
/* The words of one normalized segment: each pre-tokenizer step cuts every current word
 * further (or rewrites it), as Hugging Face's PreTokenizedString splits. */
typedef struct Words {
    Buf *w;
    int n, cap;
} Words;
static void words_add(Words *ws, const char *p, size_t n) {
    if (ws->n == ws->cap) ws->w = xrealloc(ws->w, (size_t)(ws->cap = ws->cap * 2 + 8) * sizeof(Buf));
    ws->w[ws->n] = (Buf){0};
    buf_put(&ws->w[ws->n], p, n);
    ws->n++;
}
static void words_free(Words *ws) {
    for (int i = 0; i < ws->n; i++) free(ws->w[i].p);
    free(ws->w);
}

/* Cuts p[0, n) by a regex matcher into words (appended to out). */
static void split_regex(const char *p, size_t n, size_t (*next)(const uint32_t *, size_t, size_t), Words *out) {
    uint32_t *cp = xmalloc((n + 1) * sizeof(uint32_t));
    size_t *off = xmalloc((n + 1) * sizeof(size_t)), ncp = 0;
    for (size_t i = 0; i < n;) {
        off[ncp] = i;
        i += (size_t)uni_decode((const uint8_t *)p + i, n - i, &cp[ncp]);
        ncp++;
    }
    off[ncp] = n;
    for (size_t i = 0; i < ncp;) {
        size_t j = next(cp, ncp, i);
        words_add(out, p + off[i], off[j] - off[i]);
        i = j;
    }
    free(cp);
    free(off);
}

static int starts_with(const Buf *w, const char *s) { return w->n >= strlen(s) && memcmp(w->p, s, strlen(s)) == 0; }

/* One pre-tokenizer step over all words; first: the segment starts the text. */
static void pre_step(const Bpe *b, const PreStep *st, Words *ws, int first) {
    Words out = {0};
    for (int i = 0; i < ws->n; i++) {
        Buf *w = &ws->w[i];
        if (st->kind == PRE_SPLIT_GPT2 || st->kind == PRE_SPLIT_LLAMA3) {
            split_regex(w->p, w->n, st->kind == PRE_SPLIT_GPT2 ? bpe_next_gpt2 : bpe_next_llama3, &out);
        } else if (st->kind == PRE_BYTELEVEL) {
            Buf x = {0};
            if (st->prefix_space && !starts_with(w, " ")) buf_put(&x, " ", 1);
            buf_put(&x, w->p ? w->p : "", w->n);
            Words parts = {0};
            if (st->use_regex) split_regex(x.p, x.n, bpe_next_gpt2, &parts);
            else words_add(&parts, x.p, x.n);
            for (int k = 0; k < parts.n; k++) { /* bytes -> bytes_to_unicode characters */
                Buf m = {0};
                char u[4];
                for (size_t j = 0; j < parts.w[k].n; j++) buf_put(&m, u, (size_t)utf8_put(b->byte_to_cp[(uint8_t)parts.w[k].p[j]], u));
                words_add(&out, m.p ? m.p : "", m.n);
                free(m.p);
            }
            words_free(&parts);
            free(x.p);
        } else { /* Metaspace: ' ' -> replacement, prepend, cut before each replacement */
            Buf x = {0};
            size_t rl = strlen(st->repl);
            for (size_t j = 0; j < w->n; j++) {
                if (w->p[j] == ' ') buf_put(&x, st->repl, rl);
                else buf_put(&x, w->p + j, 1);
            }
            if ((st->prepend == PREPEND_ALWAYS || (st->prepend == PREPEND_FIRST && first && i == 0)) &&
                !starts_with(&x, st->repl)) {
                Buf y = {0};
                buf_put(&y, st->repl, rl);
                buf_put(&y, x.p ? x.p : "", x.n);
                free(x.p);
                x = y;
            }
            if (!st->split) {
                words_add(&out, x.p ? x.p : "", x.n);
            } else {
                size_t a = 0;
                for (size_t j = 1; j + rl <= x.n; j++)
                    if (memcmp(x.p + j, st->repl, rl) == 0) {
                        words_add(&out, x.p + a, j - a);
                        a = j;
                    }
                if (x.n > a) words_add(&out, x.p + a, x.n - a);
            }
            free(x.p);
        }
    }
    words_free(ws);
    *ws = out;
}

/* ------------------------------------------------------------ normalizer */
static void normalize(const Bpe *b, const char *p, size_t n, Buf *out) {
    Buf cur = {0};
    buf_put(&cur, p, n);
    for (int i = 0; i < b->nnorm; i++) {
        const NormStep *st = &b->norm[i];
        Buf nx = {0};
        if (st->kind == NORM_PREPEND) {
            if (cur.n) buf_put(&nx, st->a, strlen(st->a));
            buf_put(&nx, cur.p, cur.n);
        } else {
            size_t la = strlen(st->a), lb = strlen(st->b);
            for (size_t j = 0; j < cur.n;) {
                if (la && j + la <= cur.n && memcmp(cur.p + j, st->a, la) == 0) {
                    buf_put(&nx, st->b, lb);
                    j += la;
                } else {
                    buf_put(&nx, cur.p + j++, 1);
                }
            }
            if (!nx.p) buf_put(&nx, "", 0);
        }
        free(cur.p);
        cur = nx;
    }
    *out = cur;
}

/* --------------------------------------------------------- added tokens */
/* The leftmost-longest added token (of the given normalized flag) in p[from, n): its index,
 * and the span it takes with lstrip / rstrip whitespace; -1 when none. */
static int find_added(const Bpe *b, const char *p, size_t n, size_t from, int normalized, size_t *s0, size_t *s1) {
    for (size_t i = from; i < n; i++) {
        int best = -1;
        for (int k = 0; k < b->nadded; k++) {
            const AddedTok *a = &b->added[k];
            if (a->normalized != normalized || (size_t)a->len > n - i || memcmp(p + i, a->s, (size_t)a->len) != 0) continue;
            if (best < 0 || a->len > b->added[best].len) best = k;
        }
        if (best >= 0) {
            size_t a0 = i, a1 = i + (size_t)b->added[best].len;
            if (b->added[best].lstrip)
                while (a0 > from && (p[a0 - 1] == ' ' || p[a0 - 1] == '\t' || p[a0 - 1] == '\n' || p[a0 - 1] == '\r')) a0--;
            if (b->added[best].rstrip)
                while (a1 < n && (p[a1] == ' ' || p[a1] == '\t' || p[a1] == '\n' || p[a1] == '\r')) a1++;
            *s0 = a0;
            *s1 = a1;
            return best;
        }
    }
    return -1;
}

/* A normalized segment: split off normalized added tokens, pre-tokenize, BPE. */
static void encode_normalized(const Bpe *b, const char *p, size_t n, int first, int32_t **out, int64_t *cnt, int64_t *cap) {
    size_t pos = 0;
    while (pos <= n) {
        size_t s0 = n, s1 = n;
        int k = find_added(b, p, n, pos, 1, &s0, &s1);
        if (k < 0) s0 = s1 = n;
        if (s0 > pos) {
            Words ws = {0};
            words_add(&ws, p + pos, s0 - pos);
            for (int i = 0; i < b->npre; i++) pre_step(b, &b->pre[i], &ws, first && pos == 0);
            for (int i = 0; i < ws.n; i++) bpe_word(b, ws.w[i].p, ws.w[i].n, out, cnt, cap);
            words_free(&ws);
        }
        if (k < 0) break;
        push_id(out, cnt, cap, b->added[k].id);
        pos = s1;
    }
}

static int bpe_encode(const Tokenizer *t, const char *text, size_t len, int32_t **ids, int64_t *n, int64_t *cap, QErr *err) {
    (void)err;
    const Bpe *b = t->impl;
    size_t pos = 0;
    while (pos < len) {
        size_t s0 = len, s1 = len;
        int k = find_added(b, text, len, pos, 0, &s0, &s1);
        if (k < 0) s0 = s1 = len;
        if (s0 > pos) {
            Buf nt = {0};
            normalize(b, text + pos, s0 - pos, &nt);
            encode_normalized(b, nt.p, nt.n, pos == 0, ids, n, cap);
            free(nt.p);
        }
        if (k < 0) break;
        push_id(ids, n, cap, b->added[k].id);
        pos = s1;
    }
    return 0;
}

/* --------------------------------------------------------------- decode */
static size_t bpe_piece(const Tokenizer *t, int32_t prev, int32_t id, char *buf, size_t cap) {
    const Bpe *b = t->impl;
    if (b->is_special[id]) return 0;
    const char *p = b->tok[id];
    size_t n = (size_t)b->toklen[id], o = 0;
    unsigned int byte;
    if (b->byte_level) {
        for (size_t i = 0; i < n && o < cap;) {
            uint32_t c;
            int k = uni_decode((const uint8_t *)p + i, n - i, &c);
            if (c < 324 && b->cp_to_byte[c] >= 0) {
                buf[o++] = (char)b->cp_to_byte[c];
            } else { /* not a byte character (an added token's text): as it is */
                for (int j = 0; j < k && o < cap; j++) buf[o++] = p[i + (size_t)j];
            }
            i += (size_t)k;
        }
        return o;
    }
    if (b->byte_fallback && n == 6 && sscanf(p, "<0x%02X>", &byte) == 1) {
        if (cap) buf[o++] = (char)byte;
        return o;
    }
    int first = b->strip_first && (prev < 0 || prev >= t->vocab_size || prev == t->bos_id || b->is_special[prev]);
    size_t ml = strlen(b->meta);
    for (size_t i = 0; i < n && o < cap;) {
        if (ml && i + ml <= n && memcmp(p + i, b->meta, ml) == 0) {
            if (!(first && o == 0 && i == 0)) buf[o++] = ' ';
            i += ml;
        } else {
            buf[o++] = p[i++];
        }
    }
    return o;
}

static int32_t bpe_lookup_t(const Tokenizer *t, const char *s, size_t n) { return bpe_lookup(t->impl, s, (int)n); }

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
    for (int i = 0; i < b->nadded; i++) /* llama.cpp splits these off the text as Hugging Face does */
        if (out->type[b->added[i].id] == TOKEN_TYPE_NORMAL)
            out->type[b->added[i].id] = b->added[i].special ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_USER_DEFINED;
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
    /* llama.cpp's pre-tokenizer of that name splits by Llama 3's regex (and skips the merges
     * of a word found whole, as ignore_merges) */
    for (int i = 0; i < b->npre; i++)
        if (b->pre[i].kind == PRE_SPLIT_LLAMA3) out->pre = "llama-bpe";
    return 0;
}

/* The merged token of each rank (-1 in the gaps duplicate merges leave); *n_ranks entries. */
static int32_t *merged_by_rank(const Bpe *b, int32_t *n_ranks) {
    int32_t maxr = -1;
    for (uint32_t i = 0; i < b->merges.cap; i++)
        if (b->merges.key[i] && b->merges.rank[i] > maxr) maxr = b->merges.rank[i];
    int32_t *m = xmalloc((size_t)maxr + 2 > 0 ? ((size_t)maxr + 2) * sizeof(int32_t) : sizeof(int32_t));
    for (int32_t r = 0; r <= maxr + 1; r++) m[r] = -1;
    for (uint32_t i = 0; i < b->merges.cap; i++)
        if (b->merges.key[i]) m[b->merges.rank[i]] = b->merges.merged[i];
    *n_ranks = maxr + 1;
    return m;
}

/* GGUF's "llama" view of a SentencePiece-style BPE (Metaspace "\u2581" for spaces, <0xXX> byte
 * fallback), as llama.cpp's llama tokenizer runs it: start from the characters, repeatedly join
 * the adjacent pair whose concatenation is a token of the highest score (leftmost on ties).
 * That is the tokenizer.json's BPE exactly when (1) every split of a token into two tokens is
 * one of its merges (SentencePiece BPE files converted by transformers list them all) and
 * (2) the merges of one token are consecutive in rank order; then score = -(the token's first
 * merge rank) orders the joins as the ranks do.  Both are checked, as is the pipeline
 * (spaces -> "\u2581", a prefix or not, byte tokens for unknown characters): what llama.cpp
 * would tokenize differently is refused, naming the first instance. */
static int llama_vocab(const Tokenizer *t, TokenizerVocab *out, QErr *err) {
    const Bpe *b = t->impl;
    static const char meta[] = "\xe2\x96\x81";
    int spaces = 0, prefix = 0;
    for (int i = 0; i < b->nnorm; i++) {
        const NormStep *st = &b->norm[i];
        if (st->kind == NORM_PREPEND && strcmp(st->a, meta) == 0) prefix = 1;
        else if (st->kind == NORM_REPLACE && strcmp(st->a, " ") == 0 && strcmp(st->b, meta) == 0) spaces = 1;
        else
            return qerr_set(err, "the tokenizer's normalizer %s '%s' has no GGUF equivalent (llama.cpp's llama tokenizer "
                            "only turns spaces into U+2581 and adds a leading one)",
                            st->kind == NORM_PREPEND ? "Prepend" : "Replace", st->a);
    }
    for (int i = 0; i < b->npre; i++) {
        const PreStep *st = &b->pre[i];
        if (st->kind != PRE_METASPACE || strcmp(st->repl, meta) != 0)
            return qerr_set(err, "the tokenizer's pre-tokenizer has no equivalent in llama.cpp's llama tokenizer "
                            "(only Metaspace with U+2581)");
        spaces = 1;
        prefix |= st->prepend != PREPEND_NEVER;
    }
    if (!spaces)
        return qerr_set(err, "the tokenizer keeps spaces as they are; llama.cpp's llama tokenizer expects U+2581 for them");
    for (int c = 0; c < 256; c++)
        if (!b->byte_fallback || b->byte_tok[c] < 0)
            return qerr_set(err, "the tokenizer has no byte fallback token <0x%02X>: llama.cpp's llama tokenizer spells "
                            "characters outside the vocabulary with <0xXX> tokens (this one maps them to <unk>)", c);
    if (b->nextra)
        return qerr_set(err, "the token '%s' has a second spelling '%s' (id %d): a GGUF vocabulary holds one string per "
                        "id", b->tok[bpe_lookup(b, b->extra[0], (int)strlen(b->extra[0]))], b->extra[0],
                        bpe_lookup(b, b->extra[0], (int)strlen(b->extra[0])));
    const int32_t n = t->vocab_size;
    int32_t n_ranks;
    int32_t *by_rank = merged_by_rank(b, &n_ranks);
    float *score = xcalloc((size_t)n, sizeof(float));
    unsigned char *seen = xcalloc((size_t)n, 1);
    int rc = 0;
    /* (2) each token's merges consecutive; its score from its first */
    for (int32_t r = 0, last = -1; r < n_ranks && rc == 0; r++) {
        int32_t m = by_rank[r];
        if (m < 0) continue;
        if (m != last && seen[m])
            rc = qerr_set(err, "merge %d makes '%s' again after other tokens' merges: llama.cpp's llama tokenizer orders "
                          "joins by one score per token, this tokenizer.json by merge rank", r, b->tok[m]);
        if (!seen[m]) score[m] = -(float)r;
        seen[m] = 1;
        last = m;
    }
    /* (1) every split of a token into two tokens is a merge that makes it */
    for (int32_t id = 0; id < n && rc == 0; id++) {
        const char *s = b->tok[id];
        int len = b->toklen[id];
        for (int k = 1; k < len && rc == 0; k++) {
            if (((uint8_t)s[k] & 0xC0) == 0x80) continue; /* inside a character */
            int32_t ia = bpe_lookup(b, s, k), ic = bpe_lookup(b, s + k, len - k), rank, merged;
            if (ia < 0 || ic < 0) continue;
            if (!pairmap_get(&b->merges, ia, ic, &rank, &merged) || merged != id)
                rc = qerr_set(err, "'%.*s' + '%s' make the token '%s' but are not one of the tokenizer.json's merges: "
                              "llama.cpp's llama tokenizer would join them (not a SentencePiece BPE)", k, s, s + k, s);
        }
    }
    free(by_rank);
    free(seen);
    if (rc) {
        free(score);
        return -1;
    }
    out->model = "llama";
    out->n = n;
    out->score = score;
    out->tok = xcalloc((size_t)n, sizeof(char *));
    out->len = xcalloc((size_t)n, sizeof(int));
    out->type = xmalloc((size_t)n * sizeof(int32_t));
    for (int32_t i = 0; i < n; i++) {
        out->type[i] = TOKEN_TYPE_NORMAL;
        if (b->toklen[i] == 0) { /* a hole in the ids: never produced */
            char hole[32];
            snprintf(hole, sizeof hole, "<unused_%d>", i);
            out->tok[i] = xstrdup(hole);
            out->type[i] = TOKEN_TYPE_UNUSED;
        } else {
            out->tok[i] = xstrdup(b->tok[i]);
        }
        out->len[i] = (int)strlen(out->tok[i]);
    }
    for (int c = 0; c < 256; c++) out->type[b->byte_tok[c]] = TOKEN_TYPE_BYTE;
    for (int i = 0; i < b->nadded; i++)
        out->type[b->added[i].id] = b->added[i].special ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_USER_DEFINED;
    if (t->unk_id >= 0 && t->unk_id < n) out->type[t->unk_id] = TOKEN_TYPE_UNKNOWN;
    if (t->bos_id >= 0) out->type[t->bos_id] = TOKEN_TYPE_CONTROL;
    if (t->eos_id >= 0) out->type[t->eos_id] = TOKEN_TYPE_CONTROL;
    out->bos = t->bos_id;
    out->eos = t->eos_id;
    out->unk = t->unk_id >= 0 && t->unk_id < n ? t->unk_id : -1;
    out->add_bos = t->add_bos;
    out->no_space_prefix = !prefix;
    return 0;
}

static const TokenizerVtbl bytelevel_vtbl = {"gpt2-bpe", bpe_encode, bpe_piece, bpe_free, bpe_lookup_t, gpt2_vocab};
static const TokenizerVtbl meta_vtbl = {"llama-bpe", bpe_encode, bpe_piece, bpe_free, bpe_lookup_t, llama_vocab};

/* ------------------------------------------------------------- loading */
/* s -> id in the map; the first string of an id is also its decoding (tok[id]). */
static void add_string(Tokenizer *t, Bpe *b, const char *s, int32_t id) {
    if (id < 0 || id >= t->vocab_size || strmap_get(&b->vocab, s, (int)strlen(s)) >= 0) return;
    const char *key;
    if (!b->tok[id]) {
        key = b->tok[id] = xstrdup(s);
        b->toklen[id] = (int)strlen(s);
    } else { /* another spelling of the same id */
        b->extra = xrealloc(b->extra, (size_t)(b->nextra + 1) * sizeof(char *));
        key = b->extra[b->nextra++] = xstrdup(s);
    }
    if (*key) strmap_put(&b->vocab, key, (int)strlen(key), id);
}

/* vocab object {token: id} and added_tokens [{id, content}]; -1 + err on a malformed entry */
int bpe_load_vocab(Tokenizer *t, Bpe *b, const cJSON *vocab, const cJSON *added, const char *path, QErr *err) {
    int32_t maxid = -1;
    int64_t entries = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, entries++) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1e7 || e->valuedouble != (double)(int32_t)e->valuedouble)
            return qerr_set(err, "%s: vocabulary entry '%s' has no valid id (expected an integer in 0..10^7)", path,
                            e->string ? e->string : "?");
        if ((int32_t)e->valuedouble > maxid) maxid = (int32_t)e->valuedouble;
    }
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next, entries++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id"), *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 1e7 || !cJSON_IsString(c))
            return qerr_set(err, "%s: added_tokens entry without a valid id and content", path);
        if ((int32_t)id->valuedouble > maxid) maxid = (int32_t)id->valuedouble;
    }
    if (maxid < 0) return qerr_set(err, "%s: empty vocabulary", path);
    /* Budget: the tables are sized by the largest id, so the ids must be (nearly) dense: a
     * 15-byte {"a": 9999999} would otherwise cost ten million table entries. */
    if ((int64_t)maxid + 1 > 2 * entries + 1024)
        return qerr_set(err, "%s: largest token id %d but only %lld vocabulary entries (ids must be dense: at most "
                        "2 x entries + 1024)", path, maxid, (long long)entries);
    t->vocab_size = maxid + 1;
    b->tok = xcalloc((size_t)t->vocab_size, sizeof(char *));
    b->toklen = xcalloc((size_t)t->vocab_size, sizeof(int));
    b->is_special = xcalloc((size_t)t->vocab_size, 1);
    strmap_init(&b->vocab, entries > t->vocab_size ? (int)entries : t->vocab_size);
    for (const cJSON *e = vocab->child; e; e = e->next) add_string(t, b, e->string, (int32_t)e->valuedouble);
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next)
        add_string(t, b, cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring,
                   (int32_t)cJSON_GetObjectItemCaseSensitive(e, "id")->valuedouble);
    for (int32_t i = 0; i < t->vocab_size; i++)
        if (!b->tok[i]) b->tok[i] = xstrdup(""); /* holes: never produced */
    return 0;
}

/* one merge "a b" (or ["a", "b"]) of the given rank */
int bpe_add_merge(Bpe *b, const char *a, size_t la, const char *c, size_t lc, int32_t rank, const char *path, QErr *err) {
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

/* Byte tokens, the interface table and the family's default special tokens (replaced by the
 * config files' in bpe_resolve_specials). */
int bpe_finish(Tokenizer *t, Bpe *b, const char *path, QErr *err) {
    (void)path;
    (void)err;
    char s[8];
    for (int c = 0; c < 256; c++) {
        if (b->byte_level) {
            int k = utf8_put(b->byte_to_cp[c], s);
            b->byte_tok[c] = strmap_get(&b->vocab, s, k);
        } else {
            snprintf(s, sizeof s, "<0x%02X>", c);
            b->byte_tok[c] = strmap_get(&b->vocab, s, 6);
        }
    }
    t->vt = b->byte_level ? &bytelevel_vtbl : &meta_vtbl;
    if (b->byte_level) {
        t->bos_id = t->eos_id = strmap_get(&b->vocab, "<|endoftext|>", 13);
        t->add_bos = 0;
    } else {
        t->bos_id = strmap_get(&b->vocab, "<s>", 3);
        t->eos_id = strmap_get(&b->vocab, "</s>", 4);
        t->add_bos = t->bos_id >= 0;
    }
    t->pad_id = -1;
    if (t->unk_id < 0 && b->unk_id >= 0) t->unk_id = b->unk_id;
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
        qerr_set(err, "%s: unsupported tokenizer.json model '%s' (only BPE is supported)", path,
                 cJSON_IsString(type) ? type->valuestring : "?");
        goto out;
    }
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        qerr_set(err, "%s: model.vocab must be an object and model.merges a list", path);
        goto out;
    }
    if (bpe_load_vocab(t, b, vocab, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), path, err)) goto out;
    bpe_pairmap_init(&b->merges, cJSON_GetArraySize(merges));
    int32_t rank = 0;
    for (const cJSON *m = merges->child; m; m = m->next, rank++) {
        if (cJSON_IsString(m)) {
            const char *sp = strchr(m->valuestring, ' ');
            if (!sp) {
                qerr_set(err, "%s: merge %d '%s' is not two tokens", path, rank, m->valuestring);
                goto out;
            }
            const char *c = sp + 1, *e = strchr(c, ' ');
            if (bpe_add_merge(b, m->valuestring, (size_t)(sp - m->valuestring), c, e ? (size_t)(e - c) : strlen(c), rank, path,
                              err))
                goto out;
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
            const char *a = m->child->valuestring, *c = m->child->next->valuestring;
            if (bpe_add_merge(b, a, strlen(a), c, strlen(c), rank, path, err)) goto out;
        } else {
            qerr_set(err, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", path, rank);
            goto out;
        }
    }
    if (bpe_parse_pipeline(t, b, root, path, err)) goto out;
    rc = bpe_finish(t, b, path, err);
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
    int rc = bpe_load_vocab(t, b, vocab, NULL, vpath, err);
    cJSON_Delete(vocab);
    if (rc) return -1;
    if (qfile_read_all(mpath, &data, &len, err)) return -1;
    int lines = 1;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    bpe_pairmap_init(&b->merges, lines);
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
            if ((rc = bpe_add_merge(b, p, (size_t)(sp - p), sp + 1, (size_t)((e2 ? e2 : le) - sp - 1), rank, mpath, err))) break;
            rank++;
        }
        p = nl ? nl + 1 : end;
    }
    free(data);
    if (rc) return -1;
    /* GPT-2's pipeline: ByteLevel(add_prefix_space false, GPT-2's regex) */
    b->pre[b->npre++] = (PreStep){.kind = PRE_BYTELEVEL, .use_regex = 1};
    b->byte_level = 1;
    return bpe_finish(t, b, vpath, err);
}

int tokenizer_load_hf(Tokenizer **out, const char *path, QErr *err) {
    *out = NULL;
    char tj[4096], vj[4096], mt[4096], dir[4096];
    const char *file = NULL;
    if (qpath_is_dir(path)) {
        snprintf(tj, sizeof tj, "%s/tokenizer.json", path);
        snprintf(vj, sizeof vj, "%s/vocab.json", path);
        snprintf(mt, sizeof mt, "%s/merges.txt", path);
        snprintf(dir, sizeof dir, "%s", path);
        if (qpath_exists(tj)) file = tj;
        else if (!qpath_exists(vj) || !qpath_exists(mt))
            return qerr_set(err, "%s: no tokenizer.json, nor vocab.json + merges.txt", path);
    } else if (qpath_exists(path)) {
        file = path;
        const char *slash = strrchr(path, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    } else {
        return qerr_set(err, "%s: no such tokenizer file or directory", path);
    }
    Tokenizer *t = xcalloc(1, sizeof *t);
    Bpe *b = xcalloc(1, sizeof *b);
    t->impl = b;
    t->vt = &bytelevel_vtbl; /* for bpe_free on failure */
    t->unk_id = b->unk_id = -1;
    bytes_to_unicode(b);
    int rc = file ? load_tokenizer_json(t, b, file, err) : load_vocab_merges(t, b, vj, mt, err);
    if (rc == 0) rc = bpe_resolve_specials(t, b, dir, err);
    if (rc) {
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int tokenizer_bpe_from_vocab(Tokenizer **out, const TokenizerVocab *v, const char *path, QErr *err) {
    *out = NULL;
    if (v->n_merges >= (1 << 24)) return qerr_set(err, "%s: %lld merges (at most 2^24)", path, (long long)v->n_merges);
    Tokenizer *t = xcalloc(1, sizeof *t);
    Bpe *b = xcalloc(1, sizeof *b);
    t->impl = b;
    t->vt = &bytelevel_vtbl; /* for bpe_free on failure */
    t->unk_id = b->unk_id = -1;
    t->vocab_size = v->n;
    bytes_to_unicode(b);
    b->tok = xcalloc((size_t)v->n, sizeof(char *));
    b->toklen = xcalloc((size_t)v->n, sizeof(int));
    b->is_special = xcalloc((size_t)v->n, 1);
    strmap_init(&b->vocab, v->n);
    int rc = 0;
    for (int32_t i = 0; i < v->n; i++) {
        char *s = xmalloc((size_t)v->len[i] + 1);
        memcpy(s, v->tok[i], (size_t)v->len[i]);
        s[v->len[i]] = 0; /* an embedded NUL ends the token */
        add_string(t, b, s, i);
        free(s);
        if (!b->tok[i]) b->tok[i] = xstrdup(""); /* a repeated spelling: the id is never produced */
    }
    bpe_pairmap_init(&b->merges, (int)v->n_merges);
    for (int64_t r = 0; r < v->n_merges && rc == 0; r++) {
        const char *m = v->merges[r], *sp = strchr(m, ' ');
        if (!sp) rc = qerr_set(err, "%s: merge %lld '%.40s' is not two tokens", path, (long long)r, m);
        else rc = bpe_add_merge(b, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), (int32_t)r, path, err);
    }
    /* GGUF's gpt2 model: GPT-2's pipeline, ByteLevel with GPT-2's regex */
    b->pre[b->npre++] = (PreStep){.kind = PRE_BYTELEVEL, .use_regex = 1};
    b->byte_level = 1;
    if (rc == 0) rc = bpe_finish(t, b, path, err);
    if (rc) {
        tokenizer_free(t);
        return -1;
    }
    if (v->bos >= 0 && v->bos < v->n) t->bos_id = v->bos;
    if (v->eos >= 0 && v->eos < v->n) t->eos_id = v->eos;
    t->add_bos = v->add_bos && t->bos_id >= 0;
    *out = t;
    return 0;
}
