/* tokenizer.c — the common part of the tokenizer interface (tokenizer.h). */
#include "quant/tokenizer.h"

#include <stdlib.h>
#include <string.h>

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    if (t->vt && t->vt->free) t->vt->free(t);
    free(t);
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int add_bos, int32_t **ids,
                     int64_t *n, QErr *err) {
    int64_t cap = (int64_t)len / 2 + 16, count = 0;
    int32_t *out = xmalloc((size_t)cap * sizeof(int32_t));
    if (add_bos && t->bos_id >= 0) out[count++] = t->bos_id;
    if (t->vt->encode(t, text, len, &out, &count, &cap, err) != 0) {
        free(out);
        *ids = NULL;
        *n = 0;
        return -1;
    }
    *ids = out;
    *n = count;
    return 0;
}

size_t tokenizer_piece(const Tokenizer *t, int32_t prev, int32_t id, char *buf, size_t cap) {
    if (id < 0 || id >= t->vocab_size || id == t->bos_id || id == t->eos_id) return 0;
    return t->vt->piece(t, prev, id, buf, cap);
}

char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, int64_t n, size_t *len) {
    size_t cap = (size_t)n * 8 + 64, used = 0;
    char *s = xmalloc(cap);
    char buf[512];
    for (int64_t i = 0; i < n; i++) {
        size_t k = tokenizer_piece(t, i ? ids[i - 1] : -1, ids[i], buf, sizeof buf);
        if (used + k + 1 > cap) {
            cap = (used + k + 1) * 2;
            s = xrealloc(s, cap);
        }
        memcpy(s + used, buf, k);
        used += k;
    }
    s[used] = 0;
    if (len) *len = used;
    return s;
}

int tokenizer_is_stop(const Tokenizer *t, int32_t id) {
    if (t->n_stop == 0) return id >= 0 && id == t->eos_id;
    for (int i = 0; i < t->n_stop; i++)
        if (t->stop_ids[i] == id) return 1;
    return 0;
}

int tokenizer_vocab_get(const Tokenizer *t, TokenizerVocab *v, QErr *err) {
    memset(v, 0, sizeof *v);
    if (!t->vt->vocab) return qerr_set(err, "a %s tokenizer cannot be described as a GGUF vocabulary yet", t->vt->kind);
    return t->vt->vocab(t, v, err);
}

void tokenizer_vocab_free(TokenizerVocab *v) {
    for (int32_t i = 0; v->tok && i < v->n; i++) free(v->tok[i]);
    for (int64_t i = 0; v->merges && i < v->n_merges; i++) free(v->merges[i]);
    free(v->tok);
    free(v->len);
    free(v->score);
    free(v->type);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

int tokenizer_from_vocab(Tokenizer **t, const TokenizerVocab *v, const char *path, QErr *err) {
    *t = NULL;
    if (v->n < 1) return qerr_set(err, "%s: empty vocabulary", path);
    if (strcmp(v->model, "llama") == 0) return tokenizer_llama2c_from_vocab(t, v, path, err);
    if (strcmp(v->model, "gpt2") == 0) return tokenizer_bpe_from_vocab(t, v, path, err);
    return qerr_set(err, "%s: tokenizer model '%s' (quant reads llama and gpt2)", path, v->model);
}
