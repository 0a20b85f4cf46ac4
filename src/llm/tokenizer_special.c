/* tokenizer_special.c — which ids are BOS / EOS / UNK / PAD, whether a text starts with BOS and
 * where generation stops, read from the files transformers reads, in its order:
 *   1. the tokenizer class's defaults (tokenizer_config.json "tokenizer_class": Llama* <s> </s>
 *      <unk> and BOS added; GPT2* <|endoftext|> for all three, no BOS; others none);
 *      without a tokenizer_config.json, the vocabulary's family (tokenizer_bpe.c bpe_finish);
 *   2. tokenizer_config.json bos_token / eos_token / unk_token / pad_token (a string or an
 *      AddedToken object {"content": ...}, null = none);
 *   3. special_tokens_map.json, which overrides them, but only in transformers' legacy path:
 *      when tokenizer_config.json is absent or has no "added_tokens_decoder" (files saved by
 *      transformers >= 4.34 have it, and then the map is not read);
 *   4. add_bos: tokenizer_config.json add_bos_token, else the post-processor template's
 *      leading special token (tokenizer.json), else the class default;
 *   5. stop ids: generation_config.json eos_token_id (an id or a list), else config.json's,
 *      else EOS. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_bpe.h"

/* dir/name parsed, NULL when absent; *bad set (with err) when present but not a JSON object. */
static cJSON *read_json(const char *dir, const char *name, int *bad, QErr *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!qpath_exists(path) || qpath_is_dir(path)) return NULL;
    uint8_t *buf;
    size_t len;
    if (qfile_read_all(path, &buf, &len, err)) {
        *bad = 1;
        return NULL;
    }
    cJSON *r = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        qerr_set(err, "%s: not a JSON object", path);
        *bad = 1;
        return NULL;
    }
    return r;
}

/* A special token's spelling: "x" or {"content": "x"}; *given: the key is present. */
static const char *token_string(const cJSON *o, const char *key, int *given) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *given = v != NULL;
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *c = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "content") : NULL;
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

/* eos_token_id: an id or a list of ids -> t->stop_ids; returns 1 when the key held any. */
static int read_stops(Tokenizer *t, const cJSON *o, const char *file, QErr *err, int *bad) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, "eos_token_id") : NULL;
    if (!v || cJSON_IsNull(v)) return 0;
    const cJSON *first = cJSON_IsArray(v) ? v->child : v;
    int n = 0;
    for (const cJSON *e = first; e; e = cJSON_IsArray(v) ? e->next : NULL) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= 1 << 30 || e->valuedouble != (int32_t)e->valuedouble) {
            *bad = 1;
            qerr_set(err, "%s: eos_token_id must be a token id or a list of ids", file);
            return 0;
        }
        if (n < TOKENIZER_MAX_STOPS) t->stop_ids[n++] = (int32_t)e->valuedouble;
    }
    if (n) t->n_stop = n;
    return n > 0;
}

int tokenizer_hf_model_stops(Tokenizer *t, const char *dir, QErr *err) {
    int bad = 0;
    cJSON *gc = read_json(dir, "generation_config.json", &bad, err);
    if (bad) return -1;
    int got = read_stops(t, gc, "generation_config.json", err, &bad);
    cJSON_Delete(gc);
    if (bad) return -1;
    if (got) return 0;
    cJSON *cc = read_json(dir, "config.json", &bad, err);
    if (bad) return -1;
    read_stops(t, cc, "config.json", err, &bad);
    cJSON_Delete(cc);
    return bad ? -1 : 0;
}

int bpe_resolve_specials(Tokenizer *t, const Bpe *b, const char *dir, QErr *err) {
    static const char *const keys[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    int bad = 0;
    cJSON *tc = read_json(dir, "tokenizer_config.json", &bad, err);
    if (bad) return -1;
    cJSON *sm = read_json(dir, "special_tokens_map.json", &bad, err);
    if (bad) {
        cJSON_Delete(tc);
        return -1;
    }
    int32_t *ids[4] = {&t->bos_id, &t->eos_id, &t->unk_id, &t->pad_id};
    const char *cls = tc ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tc, "tokenizer_class")) : NULL;
    int add_bos = t->add_bos;
    if (tc) { /* 1. the class's defaults */
        const char *def[4] = {NULL, NULL, NULL, NULL};
        add_bos = 0;
        if (cls && strstr(cls, "Llama")) {
            def[0] = "<s>", def[1] = "</s>", def[2] = "<unk>";
            add_bos = 1;
        } else if (cls && strstr(cls, "GPT2")) {
            def[0] = def[1] = def[2] = "<|endoftext|>";
        }
        for (int k = 0; k < 4; k++) *ids[k] = def[k] ? bpe_lookup(b, def[k], (int)strlen(def[k])) : -1;
    }
    int rc = 0;
    const cJSON *files[2] = {tc, sm};
    const char *fname[2] = {"tokenizer_config.json", "special_tokens_map.json"};
    if (tc && cJSON_GetObjectItemCaseSensitive(tc, "added_tokens_decoder")) files[1] = NULL; /* not the legacy path */
    for (int f = 0; f < 2 && rc == 0; f++) /* 2, 3: the config, then the map over it */
        for (int k = 0; k < 4 && rc == 0 && files[f]; k++) {
            int given;
            const char *s = token_string(files[f], keys[k], &given);
            if (!given) continue;
            *ids[k] = s ? bpe_lookup(b, s, (int)strlen(s)) : -1;
            if (s && *ids[k] < 0) rc = qerr_set(err, "%s/%s: %s '%s' is not in the vocabulary", dir, fname[f], keys[k], s);
        }
    if (rc == 0) { /* 4. add_bos */
        const cJSON *ab = tc ? cJSON_GetObjectItemCaseSensitive(tc, "add_bos_token") : NULL;
        if (cJSON_IsBool(ab)) {
            add_bos = cJSON_IsTrue(ab);
        } else if (b->template_first) {
            add_bos = 1;
            if (t->bos_id < 0) t->bos_id = bpe_lookup(b, b->template_first, (int)strlen(b->template_first));
        }
        t->add_bos = add_bos && t->bos_id >= 0;
        if (t->unk_id < 0) t->unk_id = b->unk_id;
        rc = tokenizer_hf_model_stops(t, dir, err); /* 5. */
    }
    cJSON_Delete(tc);
    cJSON_Delete(sm);
    return rc;
}
