/* fuzz_tokenize.c — encode / decode of arbitrary bytes with each tokenizer kind: a llama2.c
 * tokenizer.bin, a GPT-2 vocab.json + merges.txt and a Llama tokenizer.json, each a small
 * vocabulary written by the harness (byte fallback or byte-level alphabet complete, a few
 * merges).  All three are lossless on any bytes (the Llama one except on text containing
 * its "▁" marker, which it normalises spaces into), so decode(encode(x)) == x is asserted. */
#include "fuzz_tok_common.h"

static Tokenizer *tok_l2c, *tok_gpt2, *tok_llama;

static const char *const pieces[] = {" ", "e", "t", "h", "a", "o", "l", "r", "d", "w", "i", "n", " t", "th", "he",
                                     "the", " the", "in", " a", "an", "ll", "lo", "or", " w", "wo", "\xc3\xa9"};
enum { NPIECES = sizeof pieces / sizeof *pieces };

static void build_l2c(void) {
    char p[600];
    snprintf(p, sizeof p, "%s/tok.bin", fz_dir());
    FILE *f = fopen(p, "wb");
    float scores[NPIECES];
    for (int i = 0; i < NPIECES; i++) scores[i] = (float)strlen(pieces[i]) - 0.01f * (float)i;
    fz_write_tokbin(f, NPIECES, pieces, scores);
    fclose(f);
    QErr err;
    if (tokenizer_load_llama2c(&tok_l2c, p, 3 + 256 + NPIECES, &err)) fz_fail("setup: %s", err.msg);
}

/* GPT-2's printable image of byte c (bytes_to_unicode), as UTF-8 escaped for JSON. */
static void gpt2_char(int c, char *out) {
    int n = 0, cp = c;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (b == c) {
            cp = printable ? b : 256 + n;
            break;
        }
        n += !printable;
    }
    if (cp == '"' || cp == '\\') sprintf(out, "\\%c", cp);
    else if (cp < 0x80) sprintf(out, "%c", cp);
    else if (cp < 0x800) sprintf(out, "%c%c", 0xC0 | cp >> 6, 0x80 | (cp & 63));
}

static void build_gpt2(void) {
    char dir[600], p[700];
    snprintf(dir, sizeof dir, "%s/gpt2", fz_dir());
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    FILE *f = fopen(p, "wb");
    fputc('{', f);
    char ch[8];
    for (int c = 0; c < 256; c++) {
        gpt2_char(c, ch);
        fprintf(f, "\"%s\":%d,", ch, c);
    }
    /* merges: "\xc4\xa0" is GPT-2's image of the space */
    fprintf(f, "\"\xc4\xa0t\":256,\"he\":257,\"\xc4\xa0the\":258,\"in\":259,\"\xc4\xa0" "a\":260,\"ll\":261,"
               "\"or\":262,\"\xc3\x83\xc2\xa9\":263,\"<|endoftext|>\":264}");
    fclose(f);
    snprintf(p, sizeof p, "%s/merges.txt", dir);
    f = fopen(p, "wb");
    fprintf(f, "#version: 0.2\n\xc4\xa0 t\nh e\n\xc4\xa0t he\ni n\n\xc4\xa0 a\nl l\no r\n\xc3\x83 \xc2\xa9\n");
    fclose(f);
    QErr err;
    if (tokenizer_load_hf(&tok_gpt2, dir, &err)) fz_fail("setup: %s", err.msg);
}

static void build_llama(void) {
    char p[600];
    snprintf(p, sizeof p, "%s/llama-tokenizer.json", fz_dir());
    FILE *f = fopen(p, "wb");
    fprintf(f, "{\"normalizer\":{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"},\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{"
               "\"<unk>\":0,\"<s>\":1,\"</s>\":2");
    for (int b = 0; b < 256; b++) fprintf(f, ",\"<0x%02X>\":%d", b, 3 + b);
    const char *v[] = {"\xe2\x96\x81", "t", "h", "e", "\xe2\x96\x81t", "he", "\xe2\x96\x81the", "a", "\xc3\xa9"};
    for (int i = 0; i < 9; i++) fprintf(f, ",\"%s\":%d", v[i], 259 + i);
    fprintf(f, "},\"merges\":[\"\xe2\x96\x81 t\",\"h e\",\"\xe2\x96\x81t he\"]}}");
    fclose(f);
    QErr err;
    if (tokenizer_load_hf(&tok_llama, p, &err)) fz_fail("setup: %s", err.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tok_l2c) {
        build_l2c();
        build_gpt2();
        build_llama();
    }
    if (size > 4096) return 0; /* long texts add time, not coverage */
    const char *text = (const char *)data;
    fz_check_text(tok_l2c, text, size, 1);
    fz_check_text(tok_gpt2, text, size, 1);
    fz_check_text(tok_llama, text, size, memmem(text, size, "\xe2\x96\x81", 3) == NULL);
    /* decode of the input read as ids (copied: the input need not be aligned) */
    size_t dl;
    int32_t *ids = malloc(size + 4);
    memcpy(ids, data, size);
    const Tokenizer *all[3] = {tok_l2c, tok_gpt2, tok_llama};
    for (int k = 0; k < 3; k++) free(tokenizer_decode(all[k], ids, (int64_t)(size / 4), &dl));
    free(ids);
    return 0;
}
