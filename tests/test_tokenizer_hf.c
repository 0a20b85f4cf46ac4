/* test_tokenizer_hf.c — the BPE engine on a tiny hand-made Llama-style tokenizer.json whose
 * result follows from the merge ranks by hand; byte fallback; decode; broken files. */
#include "quant/tokenizer.h"
#include "test.h"

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

int main(void) {
    RUN(llama_merges_by_rank);
    RUN(broken_files_rejected);
    return test_summary("test_tokenizer_hf");
}
