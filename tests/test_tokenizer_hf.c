/* test_tokenizer_hf.c — the BPE engine on a tiny hand-made Llama-style tokenizer.json whose
 * result follows from the merge ranks by hand; byte fallback; decode; broken files. */
#include "quant/tokenizer.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <unistd.h>

static const char *write_tok(const char *name, const char *body) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    fputs(body, f);
    fclose(f);
    return path;
}

static char *tiny_json(void) {
    /* ids 0..2 specials, 3.. "▁", "a", "b", "▁a", "ab", "▁ab", then <0x00>..<0xFF> from 9 */
    static char buf[1 << 14];
    int n = snprintf(buf, sizeof buf,
                     "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\"}, {\"id\": 1, \"content\": \"<s>\"}, "
                     "{\"id\": 2, \"content\": \"</s>\"}],"
                     "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"}, "
                     "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]},"
                     "\"pre_tokenizer\": null,"
                     "\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"merges\": [\"\xe2\x96\x81 a\", \"a b\", \"\xe2\x96\x81"
                     "a b\"], \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, \"\xe2\x96\x81\": 3, \"a\": 4, \"b\": 5, "
                     "\"\xe2\x96\x81"
                     "a\": 6, \"ab\": 7, \"\xe2\x96\x81"
                     "ab\": 8");
    for (int c = 0; c < 256; c++) n += snprintf(buf + n, sizeof buf - (size_t)n, ", \"<0x%02X>\": %d", c, 9 + c);
    snprintf(buf + n, sizeof buf - (size_t)n, "}}}");
    return buf;
}

TEST(llama_merges_by_rank) {
    QErr e;
    Tokenizer *t;
    CHECK(tokenizer_load_hf(&t, write_tok("tok.json", tiny_json()), &e) == 0);
    if (!t) return;
    int32_t *ids;
    int64_t n;
    /* "▁ab▁ab": (▁,a) rank 0 twice (leftmost first), then (▁a,b) rank 2: two "▁ab" */
    CHECK(tokenizer_encode(t, "ab ab", 5, 1, &ids, &n, &e) == 0);
    CHECK(n == 3 && ids[0] == 1 && ids[1] == 8 && ids[2] == 8);
    size_t len;
    char *s = tokenizer_decode(t, ids, n, &len);
    CHECK(len == 5 && memcmp(s, "ab ab", 5) == 0);
    free(s);
    free(ids);
    /* "ba": (b,a) has no merge; "▁" + "b" has none either: three symbols, "▁" "b" "a" */
    CHECK(tokenizer_encode(t, "ba", 2, 0, &ids, &n, &e) == 0);
    CHECK(n == 3 && ids[0] == 3 && ids[1] == 5 && ids[2] == 4);
    free(ids);
    /* "aé": é is not in the vocabulary: its two UTF-8 bytes fall back to <0xC3><0xA9> */
    CHECK(tokenizer_encode(t, "a\xc3\xa9", 3, 0, &ids, &n, &e) == 0);
    CHECK(n == 3 && ids[0] == 6 && ids[1] == 9 + 0xC3 && ids[2] == 9 + 0xA9);
    s = tokenizer_decode(t, ids, n, &len);
    CHECK(len == 3 && memcmp(s, "a\xc3\xa9", 3) == 0);
    free(s);
    free(ids);
    CHECK(t->bos_id == 1 && t->eos_id == 2 && t->add_bos == 1 && t->vocab_size == 265);
    tokenizer_free(t);
}

TEST(broken_files_rejected) {
    QErr e;
    Tokenizer *t;
    CHECK(tokenizer_load_hf(&t, write_tok("b1.json", "{\"model\": {\"type\": \"WordPiece\"}}"), &e) == -1 && strstr(e.msg, "BPE"));
    CHECK(tokenizer_load_hf(&t, write_tok("b2.json", "{\"model\": "), &e) == -1 && strstr(e.msg, "JSON"));
    CHECK(tokenizer_load_hf(&t, write_tok("b3.json",
                                          "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
                                          "\"vocab\": {\"a\": 0}, \"merges\": [\"a q\"]}}"),
                            &e) == -1 &&
          strstr(e.msg, "missing from the vocabulary"));
    CHECK(tokenizer_load_hf(&t, "/nonexistent/dir", &e) == -1 && strstr(e.msg, "/nonexistent/dir"));
    CHECK(t == NULL);
}

/* The fixtures of tests/reference/tok_fixtures.py (ids against @huggingface/tokenizers are in
 * tests/integration/tokenizers_hf.sh); here, under the sanitizers too, facts that follow from
 * the fixture definitions by hand. */
static int fixtures(char *dir, size_t n) {
    const char *py = getenv("QUANT_PYTHON");
    char cmd[1024];
    snprintf(dir, n, "%s/fx", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s tests/reference/tok_fixtures.py make %s", py && *py ? py : "/usr/bin/python3", dir);
    return access("tests/reference/tok_fixtures.py", R_OK) == 0 && system(cmd) == 0;
}

static Tokenizer *open_fx(const char *dir, const char *name) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    Tokenizer *t = NULL;
    QErr e;
    if (tokenizer_load_hf(&t, p, &e)) printf("  %s: %s\n", name, e.msg);
    return t;
}

static int32_t id_of(const Tokenizer *t, const char *s) { return t->vt->lookup(t, s, strlen(s)); }

TEST(fixture_features) {
    char dir[512];
    if (!fixtures(dir, sizeof dir)) SKIP("no python3 or tests/reference/tok_fixtures.py (run from the repo root)");
    int32_t *ids;
    int64_t n;
    QErr e;
    /* byte fallback: an emoji outside the vocabulary -> its four <0xXX> tokens */
    Tokenizer *t = open_fx(dir, "llama2");
    CHECK(t != NULL);
    if (t) {
        CHECK(tokenizer_encode(t, "\xf0\x9f\x98\x80", 4, 0, &ids, &n, &e) == 0);
        CHECK(n == 5 && ids[0] == id_of(t, "\xe2\x96\x81") && ids[1] == id_of(t, "<0xF0>") && ids[4] == id_of(t, "<0x80>"));
        free(ids);
        /* two spellings, one id: U+2019 encodes as the apostrophe's id */
        CHECK(id_of(t, "\xe2\x80\x99") == id_of(t, "'") && id_of(t, "'") >= 0);
        /* a special token inside the text is its id; the segment after it gets its own "▁" */
        CHECK(tokenizer_encode(t, "</s>a", 5, 0, &ids, &n, &e) == 0);
        CHECK(n >= 2 && ids[0] == 2);
        free(ids);
        tokenizer_free(t);
    }
    /* byte_fallback without byte tokens: unknown characters -> one fused <unk> (id 0) */
    t = open_fx(dir, "nobytes");
    CHECK(t != NULL);
    if (t) {
        CHECK(tokenizer_encode(t, "\xf0\x9f\x98\x80\xf0\x9f\x98\x81", 8, 0, &ids, &n, &e) == 0);
        CHECK(n == 2 && ids[1] == 0);
        free(ids);
        CHECK(t->bos_id == 1 && t->eos_id == 3 && t->pad_id == 4 && t->n_stop == 2 && tokenizer_is_stop(t, 2) &&
              tokenizer_is_stop(t, 3) && !tokenizer_is_stop(t, 1));
        tokenizer_free(t);
    }
    /* no fallback, no fusing: two unknown characters -> two <unk> */
    t = open_fx(dir, "nofallback");
    CHECK(t != NULL);
    if (t) {
        CHECK(tokenizer_encode(t, "\xf0\x9f\x98\x80\xf0\x9f\x98\x81", 8, 0, &ids, &n, &e) == 0);
        CHECK(n == 3 && ids[1] == 0 && ids[2] == 0);
        free(ids);
        CHECK(t->add_bos == 0 && t->bos_id == 1);
        tokenizer_free(t);
    }
    /* Llama 3: specials split off, BOS from the template, ignore_merges keeps whole words */
    t = open_fx(dir, "llama3");
    CHECK(t != NULL);
    if (t) {
        int32_t eot = id_of(t, "<|eot_id|>");
        CHECK(tokenizer_encode(t, "x<|eot_id|>", 11, 1, &ids, &n, &e) == 0);
        CHECK(n == 3 && ids[0] == t->bos_id && ids[0] == id_of(t, "<|begin_of_text|>") && ids[2] == eot);
        free(ids);
        CHECK(tokenizer_encode(t, " the", 4, 0, &ids, &n, &e) == 0);
        CHECK(n == 1 && ids[0] == id_of(t, "\xc4\xa0the")); /* "Ġthe" whole */
        free(ids);
        size_t len;
        CHECK(tokenizer_encode(t, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10, 0, &ids, &n, &e) == 0);
        char *back = tokenizer_decode(t, ids, n, &len);
        CHECK(len == 10 && memcmp(back, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10) == 0);
        free(back);
        free(ids);
        tokenizer_free(t);
    }
    /* refused features: the expected words, from the fixture script's table */
    char p[700];
    snprintf(p, sizeof p, "%s/expected.json", dir);
    uint8_t *buf;
    size_t len;
    CHECK(qfile_read_all(p, &buf, &len, &e) == 0);
    cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    int refused = 0;
    for (const cJSON *x = root ? root->child : NULL; x; x = x->next) {
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(x, "error");
        if (!cJSON_IsString(want)) continue;
        snprintf(p, sizeof p, "%s/%s", dir, x->string);
        Tokenizer *r = NULL;
        int rc = tokenizer_load_hf(&r, p, &e);
        CHECK_MSG(rc == -1 && r == NULL && strstr(e.msg, want->valuestring), "%s: '%s' lacks '%s'", x->string,
                  rc ? e.msg : "(accepted)", want->valuestring);
        if (r) tokenizer_free(r);
        refused++;
    }
    CHECK(refused >= 12);
    cJSON_Delete(root);
}

int main(void) {
    RUN(llama_merges_by_rank);
    RUN(broken_files_rejected);
    RUN(fixture_features);
    return test_summary("test_tokenizer_hf");
}
