/* tokenizer_json.c — a tokenizer.json's normalizer, pre-tokenizer, BPE options, added tokens
 * and post-processor into the pipeline tokenizer_bpe.c runs (tokenizer_bpe.h).  Every
 * component Hugging Face tokenizers defines but quant does not implement is refused with an
 * error naming it, rather than tokenizing differently. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_bpe.h"

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static int jbool(const cJSON *o, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}
static const char *type_of(const cJSON *o) {
    const char *t = jstr(o, "type");
    return t ? t : "(no type)";
}

static int parse_normalizer(Bpe *b, const cJSON *n, const char *path, QErr *err) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *ty = type_of(n);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        for (const cJSON *e = list ? list->child : NULL; e; e = e->next)
            if (parse_normalizer(b, e, path, err)) return -1;
        return 0;
    }
    if (b->nnorm == BPE_MAX_STEPS) return qerr_set(err, "%s: more than %d normalizer steps", path, BPE_MAX_STEPS);
    NormStep *st = &b->norm[b->nnorm];
    if (strcmp(ty, "Prepend") == 0) {
        const char *p = jstr(n, "prepend");
        if (!p) return qerr_set(err, "%s: normalizer Prepend without a \"prepend\" string", path);
        *st = (NormStep){NORM_PREPEND, xstrdup(p), NULL};
    } else if (strcmp(ty, "Replace") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *s = jstr(pat, "String"), *c = jstr(n, "content");
        if (!s || !c)
            return qerr_set(err, "%s: normalizer Replace with a %s pattern is not supported (only {\"String\": ...})", path,
                            jstr(pat, "Regex") ? "Regex" : "missing");
        *st = (NormStep){NORM_REPLACE, xstrdup(s), xstrdup(c)};
    } else {
        return qerr_set(err, "%s: normalizer '%s' is not supported (supported: Prepend, Replace, Sequence)", path, ty);
    }
    b->nnorm++;
    return 0;
}

static int parse_pre(Bpe *b, const cJSON *n, const char *path, QErr *err) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *ty = type_of(n);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "pretokenizers");
        for (const cJSON *e = list ? list->child : NULL; e; e = e->next)
            if (parse_pre(b, e, path, err)) return -1;
        return 0;
    }
    if (b->npre == BPE_MAX_STEPS) return qerr_set(err, "%s: more than %d pre-tokenizer steps", path, BPE_MAX_STEPS);
    PreStep *st = &b->pre[b->npre];
    memset(st, 0, sizeof *st);
    if (strcmp(ty, "ByteLevel") == 0) {
        st->kind = PRE_BYTELEVEL;
        st->prefix_space = jbool(n, "add_prefix_space", 1);
        st->use_regex = jbool(n, "use_regex", 1);
        b->byte_level = 1;
    } else if (strcmp(ty, "Split") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *re = jstr(pat, "Regex"), *beh = jstr(n, "behavior");
        if (re && strcmp(re, bpe_regex_gpt2) == 0) st->kind = PRE_SPLIT_GPT2;
        else if (re && strcmp(re, bpe_regex_llama3) == 0) st->kind = PRE_SPLIT_LLAMA3;
        else
            return qerr_set(err, "%s: pre-tokenizer Split with pattern '%.80s' is not supported (only the GPT-2 and Llama-3 "
                            "regexes)", path, re ? re : jstr(pat, "String") ? jstr(pat, "String") : "?");
        if (!beh || strcmp(beh, "Isolated") != 0 || jbool(n, "invert", 0))
            return qerr_set(err, "%s: pre-tokenizer Split with behavior '%s'%s is not supported (only Isolated)", path,
                            beh ? beh : "?", jbool(n, "invert", 0) ? " and invert" : "");
    } else if (strcmp(ty, "Metaspace") == 0) {
        const char *r = jstr(n, "replacement"), *ps = jstr(n, "prepend_scheme");
        if (!r || strlen(r) >= sizeof st->repl || !*r) return qerr_set(err, "%s: pre-tokenizer Metaspace without a replacement", path);
        st->kind = PRE_METASPACE;
        strcpy(st->repl, r);
        st->split = jbool(n, "split", 1);
        if (ps) {
            if (strcmp(ps, "always") == 0) st->prepend = PREPEND_ALWAYS;
            else if (strcmp(ps, "first") == 0) st->prepend = PREPEND_FIRST;
            else if (strcmp(ps, "never") == 0) st->prepend = PREPEND_NEVER;
            else return qerr_set(err, "%s: Metaspace prepend_scheme '%s' is unknown", path, ps);
        } else {
            st->prepend = jbool(n, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
        }
    } else {
        return qerr_set(err, "%s: pre-tokenizer '%s' is not supported (supported: ByteLevel, Metaspace, Split with the GPT-2 "
                        "or Llama-3 regex, Sequence)", path, ty);
    }
    b->npre++;
    return 0;
}

/* The post-processor's template for one text: its leading special token (BOS), if any. */
static int parse_post(Bpe *b, const cJSON *n, const char *path, QErr *err) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *ty = type_of(n);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "processors");
        for (const cJSON *e = list ? list->child : NULL; e; e = e->next)
            if (parse_post(b, e, path, err)) return -1;
        return 0;
    }
    if (strcmp(ty, "ByteLevel") == 0) return 0; /* offsets only */
    if (strcmp(ty, "TemplateProcessing") != 0)
        return qerr_set(err, "%s: post-processor '%s' is not supported (supported: TemplateProcessing, ByteLevel)", path, ty);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(n, "single");
    const cJSON *first = cJSON_IsArray(single) ? single->child : NULL;
    const cJSON *sp = first ? cJSON_GetObjectItemCaseSensitive(first, "SpecialToken") : NULL;
    const char *id = jstr(sp, "id");
    if (id) {
        free(b->template_first);
        b->template_first = xstrdup(id);
    }
    return 0;
}

int bpe_parse_pipeline(Tokenizer *t, Bpe *b, const cJSON *root, const char *path, QErr *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    b->byte_fallback = jbool(model, "byte_fallback", 0);
    b->fuse_unk = jbool(model, "fuse_unk", 0);
    b->ignore_merges = jbool(model, "ignore_merges", 0);
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble > 0)
        return qerr_set(err, "%s: BPE dropout %g is not supported (tokenization would be random)", path, dropout->valuedouble);
    const char *keys[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *v = jstr(model, keys[i]);
        if (v && *v) return qerr_set(err, "%s: BPE %s '%s' is not supported", path, keys[i], v);
    }
    const char *unk = jstr(model, "unk_token");
    b->unk_id = -1;
    if (unk) {
        b->unk_id = bpe_lookup(b, unk, (int)strlen(unk));
        if (b->unk_id < 0) return qerr_set(err, "%s: model.unk_token '%s' is not in the vocabulary", path, unk);
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    int na = cJSON_GetArraySize(added);
    b->added = xcalloc((size_t)na + 1, sizeof(AddedTok));
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        const char *c = jstr(e, "content"); /* id and content were checked by bpe_load_vocab */
        if (!*c) continue;
        if (jbool(e, "single_word", 0))
            return qerr_set(err, "%s: added token '%s' has single_word true: not supported", path, c);
        AddedTok *a = &b->added[b->nadded++];
        *a = (AddedTok){xstrdup(c), (int)strlen(c), (int32_t)cJSON_GetObjectItemCaseSensitive(e, "id")->valuedouble,
                        jbool(e, "special", 0), jbool(e, "normalized", 0), jbool(e, "lstrip", 0), jbool(e, "rstrip", 0)};
        if (a->special) b->is_special[a->id] = 1;
    }
    if (parse_normalizer(b, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path, err) ||
        parse_pre(b, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), path, err) ||
        parse_post(b, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path, err))
        return -1;
    /* decoding follows from the pipeline: byte characters back to bytes, or the space marker
     * back to ' ' with the leading one the normalizer / Metaspace added dropped */
    if (!b->byte_level) {
        strcpy(b->meta, "\xe2\x96\x81");
        for (int i = 0; i < b->nnorm; i++) {
            if (b->norm[i].kind == NORM_PREPEND) b->strip_first = 1;
            if (b->norm[i].kind == NORM_REPLACE && strcmp(b->norm[i].a, " ") == 0 && strlen(b->norm[i].b) < sizeof b->meta)
                strcpy(b->meta, b->norm[i].b);
        }
        for (int i = 0; i < b->npre; i++)
            if (b->pre[i].kind == PRE_METASPACE) {
                strcpy(b->meta, b->pre[i].repl);
                b->strip_first |= b->pre[i].prepend != PREPEND_NEVER;
            }
    }
    t->unk_id = b->unk_id;
    return 0;
}
