/* test_gguf.c — GGUF files (src/llm/io): the container written and read back; random Llama
 * (rotary on halves, FFN width not a multiple of 32) and GPT-2 (fused q|k|v, biases) models
 * exported with their quantized codes and read back — the blocks hold exactly the source's
 * codes and scales, and the imported model's logits equal the source model's; tokenizers
 * through GGUF metadata encode the same ids; what cannot map exactly is refused; and every
 * kind of damaged file gets its one error. */
#include <unistd.h>

#include "quant/gguf.h"
#include "quant/llm_gguf.h"
#include "quant/qblock.h"
#include "test.h"

static char tmpdir[256];
static const char *tmp(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* ---------------------------------------------------------------- tokenizers */
/* llama: <unk> <s> </s>, 256 byte tokens, then a few pieces with scores */
static Tokenizer *llama_tok(void) {
    static const char *extra[] = {"\xe2\x96\x81t", "he", "\xe2\x96\x81the", "\xe2\x96\x81" "a", "an", "\xe2\x96\x81" "an"};
    TokenizerVocab v = {0};
    v.model = "llama";
    v.n = 3 + 256 + 6;
    v.tok = xcalloc((size_t)v.n, sizeof(char *));
    v.len = xcalloc((size_t)v.n, sizeof(int));
    v.score = xcalloc((size_t)v.n, sizeof(float));
    v.type = xcalloc((size_t)v.n, sizeof(int32_t));
    const char *sp[3] = {"<unk>", "<s>", "</s>"};
    char b[16];
    for (int i = 0; i < v.n; i++) {
        const char *s = i < 3 ? sp[i] : i < 259 ? (snprintf(b, sizeof b, "<0x%02X>", i - 3), b) : extra[i - 259];
        v.tok[i] = xstrdup(s);
        v.len[i] = (int)strlen(s);
        v.score[i] = i < 259 ? 0.0f : -(float)(i - 259);
    }
    v.bos = 1, v.eos = 2, v.unk = 0, v.add_bos = 1;
    Tokenizer *t;
    QErr e;
    int rc = tokenizer_from_vocab(&t, &v, "test", &e);
    v.model = NULL;
    tokenizer_vocab_free(&v);
    return rc ? NULL : t;
}

/* gpt2: the 256 byte characters, merges "t h" -> "th", "th e" -> "the", then <|endoftext|> */
static Tokenizer *gpt2_tok(void) {
    TokenizerVocab v = {0};
    v.model = "gpt2";
    v.n = 256 + 3;
    v.tok = xcalloc((size_t)v.n, sizeof(char *));
    v.len = xcalloc((size_t)v.n, sizeof(int));
    v.type = xcalloc((size_t)v.n, sizeof(int32_t));
    int n = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        uint32_t cp = printable ? (uint32_t)c : (uint32_t)(256 + n++);
        char s[4];
        int k = cp < 0x80 ? (s[0] = (char)cp, 1) : (s[0] = (char)(0xC0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 63)), 2);
        v.tok[c] = xmalloc(3);
        memcpy(v.tok[c], s, (size_t)k);
        v.tok[c][k] = 0;
        v.len[c] = k;
    }
    v.tok[256] = xstrdup("th"), v.len[256] = 2;
    v.tok[257] = xstrdup("the"), v.len[257] = 3;
    v.tok[258] = xstrdup("<|endoftext|>"), v.len[258] = 13;
    v.n_merges = 2;
    v.merges = xcalloc(2, sizeof(char *));
    v.merges[0] = xstrdup("t h");
    v.merges[1] = xstrdup("th e");
    v.bos = v.eos = 258, v.unk = -1;
    Tokenizer *t;
    QErr e;
    int rc = tokenizer_from_vocab(&t, &v, "test", &e);
    v.model = NULL;
    tokenizer_vocab_free(&v);
    return rc ? NULL : t;
}

/* ------------------------------------------------------------- random models */
typedef struct Fix {
    LlmModel m;
    float *bufs[256];
    int nb;
    QParams p[64];
    int8_t *codes[64];
    LlmQView lin[64];
    QParams ep;
    int8_t *ecodes;
} Fix;

static float *randv(Fix *f, QRng *r, int64_t n, float sd, float mean) {
    float *v = xmalloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = mean + sd * qrng_normal(r);
    f->bufs[f->nb++] = v;
    return v;
}

/* a random model; linears quantized symmetric to `bits` in groups of `group` (0: per channel),
 * merged tails, float16 scales, the weights replaced by their dequantized values; the
 * embedding 8-bit per row on the restricted grid */
static void fix_init(Fix *f, LlmArch arch, int interleaved, int F, int bits, int group) {
    memset(f, 0, sizeof *f);
    QRng r;
    qrng_seed(&r, 7 + (uint64_t)arch);
    LlmConfig *c = &f->m.c;
    int gpt2 = arch == LLM_ARCH_GPT2;
    *c = (LlmConfig){.arch = arch, .dim = 64, .hidden_dim = F, .n_layers = 2, .n_heads = 4, .n_kv_heads = gpt2 ? 4 : 2,
                     .vocab_size = 300, .max_seq = 32, .norm_eps = 1e-5f, .rope_theta = gpt2 ? 0.0f : 10000.0f,
                     .rope_interleaved = interleaved, .shared_head = !gpt2};
    int D = 64, kvd = D / 4 * c->n_kv_heads, V = 300;
    f->m.tok_emb = randv(f, &r, (int64_t)V * D, 0.5f, 0);
    f->m.head = gpt2 ? randv(f, &r, (int64_t)V * D, 0.1f, 0) : f->m.tok_emb;
    if (gpt2) f->m.pos_emb = randv(f, &r, (int64_t)c->max_seq * D, 0.1f, 0);
    f->m.final_norm = randv(f, &r, D, 0.1f, 1);
    if (gpt2) f->m.final_norm_b = randv(f, &r, D, 0.1f, 0);
    f->m.layers = xcalloc(2, sizeof(LlmLayer));
    QErr e;
    for (int l = 0; l < 2; l++) {
        LlmLayer *y = &f->m.layers[l];
        y->attn_norm = randv(f, &r, D, 0.1f, 1);
        y->ffn_norm = randv(f, &r, D, 0.1f, 1);
        y->wq = randv(f, &r, (int64_t)D * D, 0.15f, 0);
        y->wk = randv(f, &r, (int64_t)kvd * D, 0.15f, 0);
        y->wv = randv(f, &r, (int64_t)kvd * D, 0.15f, 0);
        y->wo = randv(f, &r, (int64_t)D * D, 0.15f, 0);
        if (!gpt2) y->w_gate = randv(f, &r, (int64_t)F * D, 0.15f, 0);
        y->w_up = randv(f, &r, (int64_t)F * D, 0.15f, 0);
        y->w_down = randv(f, &r, (int64_t)D * F, 0.15f, 0);
        if (gpt2) {
            y->attn_norm_b = randv(f, &r, D, 0.1f, 0);
            y->ffn_norm_b = randv(f, &r, D, 0.1f, 0);
            y->bq = randv(f, &r, D, 0.1f, 0);
            y->bk = randv(f, &r, kvd, 0.1f, 0);
            y->bv = randv(f, &r, kvd, 0.1f, 0);
            y->bo = randv(f, &r, D, 0.1f, 0);
            y->b_up = randv(f, &r, F, 0.1f, 0);
            y->b_down = randv(f, &r, D, 0.1f, 0);
        }
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears(&f->m, l, lin);
        for (int k = 0; k < nl; k++) {
            int s = l * LLM_MAX_LINEARS + k;
            QParams *p = &f->p[s];
            qparams_init(p, bits, 1, group ? QGRAN_GROUP : QGRAN_CHANNEL, group, lin[k].out, lin[k].in, &e);
            p->scale_f16 = 1;
            p->sym_full = bits < 8;
            if (bits == 8) p->qmin = -127;
            qparams_merge_tail(p);
            qparams_fit_minmax(p, lin[k].w);
            f->codes[s] = xmalloc((size_t)lin[k].out * lin[k].in);
            quantize(p, lin[k].w, f->codes[s]);
            dequantize(p, f->codes[s], lin[k].w);
            f->lin[s] = (LlmQView){p, f->codes[s]};
        }
    }
    qparams_init(&f->ep, 8, 1, QGRAN_CHANNEL, 0, V, D, &e);
    f->ep.scale_f16 = 1;
    qparams_fit_minmax(&f->ep, f->m.tok_emb);
    f->ecodes = xmalloc((size_t)V * D);
    quantize(&f->ep, f->m.tok_emb, f->ecodes);
    dequantize(&f->ep, f->ecodes, f->m.tok_emb);
}

static void fix_free(Fix *f) {
    for (int i = 0; i < f->nb; i++) free(f->bufs[i]);
    for (int i = 0; i < 64; i++) {
        if (f->p[i].scale) qparams_free(&f->p[i]);
        free(f->codes[i]);
    }
    qparams_free(&f->ep);
    free(f->ecodes);
    free(f->m.layers);
}

static float *logits_of(const LlmModel *m, const int32_t *tok, int T) {
    LlmState s;
    llm_state_init(&s, m, T);
    float *lg = llm_forward(m, &s, tok, T, 0, NULL, NULL);
    float *out = xmalloc((size_t)T * m->c.vocab_size * sizeof(float));
    memcpy(out, lg, (size_t)T * m->c.vocab_size * sizeof(float));
    llm_state_free(&s);
    return out;
}

static double max_rel_diff(const float *a, const float *b, int64_t n) {
    double mx = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(a[i]));
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(a[i] - b[i]));
    return mx / scale;
}

/* export f, check blocks against the codes, import, compare logits, return the path */
static void roundtrip(Fix *f, Tokenizer *tok, const char *file, uint32_t want_type, int64_t Fp) {
    LlmExportSource src = {&f->m, tok, f->lin, {&f->ep, f->ecodes}, "test", NULL, NULL, {NULL, NULL}};
    LlmGgufOpts o = {0};
    LlmExportReport rep;
    QErr e = {{0}};
    const char *path = tmp(file);
    int rc = llm_export_gguf(&src, path, &o, &rep, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    if (rc) return;
    Gguf g;
    rc = gguf_open(&g, path, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    if (rc) return;
    /* the value linear of block 1 (not permuted): every code and scale bit-identical */
    int gpt2 = f->m.c.arch == LLM_ARCH_GPT2;
    const GgufTensor *t = gguf_tensor(&g, gpt2 ? "blk.1.ffn_down.weight" : "blk.1.attn_v.weight");
    int slot = LLM_MAX_LINEARS + (gpt2 ? 5 : 2);
    const QParams *p = &f->p[slot];
    CHECK(t && t->type == want_type && t->ne[1] == p->rows && t->ne[0] == (gpt2 ? Fp : p->cols));
    int bad = 0;
    for (int64_t r = 0; t && r < p->rows; r++)
        for (int64_t b = 0; b < t->ne[0] / QK; b++) {
            int8_t c[QK];
            uint16_t d;
            if (want_type == GGML_TYPE_Q4_0) {
                QBlockQ4_0 blk;
                memcpy(&blk, t->data + (r * (t->ne[0] / QK) + b) * 18, 18);
                qblock_q4_0_unpack(&blk, c);
                d = blk.d;
            } else {
                QBlockQ8_0 blk;
                memcpy(&blk, t->data + (r * (t->ne[0] / QK) + b) * 34, 34);
                qblock_q8_0_unpack(&blk, c);
                d = blk.d;
            }
            for (int j = 0; j < QK; j++) {
                int64_t col = b * QK + j;
                int8_t want = col < p->cols ? f->codes[slot][r * p->cols + col] : 0;
                bad += c[j] != want;
            }
            if (b * QK < p->cols) bad += qf16_to_f32(d) != p->scale[qparams_index(p, r, b * QK)];
        }
    CHECK_MSG(bad == 0, "%d codes/scales differ", bad);
    uint32_t ff;
    CHECK(gguf_get_u32(&g, gpt2 ? "gpt2.feed_forward_length" : "llama.feed_forward_length", &ff, &e) == 0 && ff == Fp);
    gguf_close(&g);
    /* the imported model computes what the source computed */
    LlmModel m2;
    int quantized = 0;
    rc = llm_load_gguf(&m2, path, &quantized, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    if (rc) return;
    CHECK(quantized == 1 && m2.c.hidden_dim == Fp && m2.c.rope_interleaved == 1);
    /* every linear stays packed (GPT-2's attn_qkv as three); the reference kernels dequantize
     * them exactly, the integer kernels (int8 activations) come close */
    CHECK_MSG(m2.n_packed == m2.c.n_layers * (gpt2 ? 6 : 7), "%d packed linears", m2.n_packed);
    int32_t ids[12] = {1, 5, 17, 260, 33, 200, 7, 7, 99, 150, 3, 44};
    float *a = logits_of(&f->m, ids, 12), *b = logits_of(&m2, ids, 12);
    double rd_int = max_rel_diff(a, b, 12 * 300);
    CHECK_MSG(rd_int < 0.06, "integer kernels: logits differ by %.3g (relative to the largest)", rd_int);
    free(b);
    CHECK(llm_kernels_set(&m2, "ref", &e) == 0);
    b = logits_of(&m2, ids, 12);
    double rd = max_rel_diff(a, b, 12 * 300);
    CHECK_MSG(rd < 2e-5, "reference kernels: logits differ by %.3g (relative to the largest)", rd);
    free(a);
    free(b);
    llm_free(&m2);
    /* the tokenizer from the file's metadata encodes as the source */
    Tokenizer *t2;
    rc = tokenizer_load_gguf(&t2, path, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    if (rc) return;
    const char *text = "the cat ate an apple, then the hat: \xc3\xa9" "t\xc3\xa9!";
    int32_t *x1, *x2;
    int64_t n1, n2;
    tokenizer_encode(tok, text, strlen(text), 1, &x1, &n1, &e);
    tokenizer_encode(t2, text, strlen(text), 1, &x2, &n2, &e);
    CHECK(n1 == n2 && n1 > 5 && memcmp(x1, x2, (size_t)n1 * 4) == 0);
    CHECK(t2->bos_id == tok->bos_id && t2->eos_id == tok->eos_id && t2->add_bos == tok->add_bos);
    free(x1);
    free(x2);
    tokenizer_free(t2);
}

TEST(llama_w4_halves_padded) {
    Fix f;
    fix_init(&f, LLM_ARCH_LLAMA, 0, 40, 4, 32); /* F = 40: merged tail group of 40, padded to 64 */
    Tokenizer *tok = llama_tok();
    CHECK(tok != NULL);
    roundtrip(&f, tok, "llama.gguf", GGML_TYPE_Q4_0, 64);
    tokenizer_free(tok);
    fix_free(&f);
}

TEST(llama_w8_interleaved) {
    Fix f;
    fix_init(&f, LLM_ARCH_LLAMA, 1, 64, 8, 0); /* per channel 8-bit -> Q8_0 */
    Tokenizer *tok = llama_tok();
    roundtrip(&f, tok, "llama8.gguf", GGML_TYPE_Q8_0, 64);
    tokenizer_free(tok);
    fix_free(&f);
}

TEST(gpt2_w4) {
    Fix f;
    fix_init(&f, LLM_ARCH_GPT2, 1, 96, 4, 32);
    Tokenizer *tok = gpt2_tok();
    CHECK(tok != NULL);
    roundtrip(&f, tok, "gpt2.gguf", GGML_TYPE_Q4_0, 96);
    tokenizer_free(tok);
    fix_free(&f);
}

/* group 16, affine, and a code of -128 cannot be exact: refused, nothing written */
TEST(refusals) {
    Tokenizer *tok = llama_tok();
    struct { int bits, group, affine, minus128; const char *want; } cases[] = {
        {4, 16, 0, 0, "--group-size 32"}, {4, 32, 1, 0, "affine"}, {8, 32, 0, 1, "-128"}};
    for (int i = 0; i < 3; i++) {
        Fix f;
        fix_init(&f, LLM_ARCH_LLAMA, 1, 64, cases[i].bits, cases[i].group);
        if (cases[i].affine) f.p[3].symmetric = 0;
        if (cases[i].minus128) f.codes[3][5] = -128;
        LlmExportSource src = {&f.m, tok, f.lin, {&f.ep, f.ecodes}, "test", NULL, NULL, {NULL, NULL}};
        LlmGgufOpts o = {0};
        LlmExportReport rep;
        QErr e = {{0}};
        const char *path = tmp("refused.gguf");
        CHECK(llm_export_gguf(&src, path, &o, &rep, &e) == -1);
        CHECK_MSG(strstr(e.msg, cases[i].want) != NULL, "case %d: %s", i, e.msg);
        CHECK(!qpath_exists(path));
        fix_free(&f);
    }
    tokenizer_free(tok);
}

/* -------------------------------------------------------------- damaged files */
static uint8_t *good;
static size_t good_len;

static void write_bytes(const char *path, const uint8_t *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    fwrite(b, 1, n, fp);
    fclose(fp);
}

/* offset of the first occurrence of a byte string in the good file */
static size_t find(const void *s, size_t n) {
    for (size_t i = 0; i + n <= good_len; i++)
        if (memcmp(good + i, s, n) == 0) return i;
    return 0;
}

static void expect_error(const char *what, const uint8_t *b, size_t n, const char *want) {
    const char *path = tmp("bad.gguf");
    write_bytes(path, b, n);
    Gguf g;
    LlmModel m;
    QErr e = {{0}}, e2 = {{0}};
    int q;
    int rc = gguf_open(&g, path, &e);
    if (rc == 0) gguf_close(&g);
    CHECK_MSG(rc == -1, "%s: accepted", what);
    CHECK_MSG(strstr(e.msg, want) != NULL && strstr(e.msg, path) != NULL, "%s: '%s' lacks '%s'", what, e.msg, want);
    CHECK_MSG(llm_load_gguf(&m, path, &q, &e2) == -1, "%s: the loader accepted it", what);
}

TEST(bad_files) {
    Fix f;
    fix_init(&f, LLM_ARCH_LLAMA, 1, 64, 4, 32);
    Tokenizer *tok = llama_tok();
    LlmExportSource src = {&f.m, tok, f.lin, {&f.ep, f.ecodes}, "test", NULL, NULL, {NULL, NULL}};
    LlmGgufOpts o = {0};
    LlmExportReport rep;
    QErr e;
    const char *path = tmp("good.gguf");
    CHECK(llm_export_gguf(&src, path, &o, &rep, &e) == 0);
    CHECK(qfile_read_all(path, &good, &good_len, &e) == 0);
    uint8_t *b = xmalloc(good_len);
    uint64_t v64;
    uint32_t v32;
    /* truncated: in the header, in the metadata, in the tensor infos, in the data */
    size_t cuts[4] = {12, 200, find("blk.1.attn_q.weight", 19), good_len - 7};
    const char *cut_msg[4] = {"truncated", "cannot fit", "past the end", "past the end"};
    for (int i = 0; i < 4; i++) expect_error("truncated", good, cuts[i], cut_msg[i]);
    memcpy(b, good, good_len);
    memcpy(b, "GGML", 4);
    expect_error("magic", b, good_len, "magic");
    memcpy(b, good, good_len);
    v32 = 4;
    memcpy(b + 4, &v32, 4);
    expect_error("version", b, good_len, "version 4");
    memcpy(b, good, good_len);
    v64 = 1ull << 60;
    memcpy(b + 8, &v64, 8);
    expect_error("tensor count", b, good_len, "tensor count");
    memcpy(b, good, good_len);
    memcpy(b + 16, &v64, 8);
    expect_error("kv count", b, good_len, "key/value count");
    /* the first key's name length: longer than the file */
    memcpy(b, good, good_len);
    memcpy(b + 24, &v64, 8);
    expect_error("string length", b, good_len, "past the end");
    /* the token array's count: absurd */
    memcpy(b, good, good_len);
    size_t kt = find("tokenizer.ggml.tokens", 21) + 21 + 4 + 4; /* key, value type, element type */
    memcpy(b + kt, &v64, 8);
    expect_error("array count", b, good_len, "cannot fit");
    /* the last tensor's info: its type (unknown), its offset (past the end), its dims */
    size_t tn = find("blk.1.ffn_down.weight", 21) + 21; /* then n_dims, ne[0], ne[1], type, offset */
    memcpy(b, good, good_len);
    v32 = 99;
    memcpy(b + tn + 4 + 16, &v32, 4);
    expect_error("type", b, good_len, "ggml type 99");
    memcpy(b, good, good_len);
    v64 = good_len;
    v64 = (v64 + 31) / 32 * 32;
    memcpy(b + tn + 4 + 16 + 4, &v64, 8);
    expect_error("offset", b, good_len, "past the end");
    memcpy(b, good, good_len);
    v32 = 7;
    memcpy(b + tn, &v32, 4);
    expect_error("dims", b, good_len, "dimensions");
    memcpy(b, good, good_len);
    v64 = 1ull << 50;
    memcpy(b + tn + 4, &v64, 8);
    expect_error("huge dim", b, good_len, "element count");
    /* a key's value type out of range */
    memcpy(b, good, good_len);
    size_t ka = find("general.architecture", 20) + 20;
    v32 = 77;
    memcpy(b + ka, &v32, 4);
    expect_error("value type", b, good_len, "value type 77");
    /* a Q4_0 block whose scale is not finite: a sound container, refused by the loader (which
     * keeps the blocks packed) with the file, the tensor and the block named */
    char gp[1024];
    snprintf(gp, sizeof gp, "%s", tmp("good.gguf")); /* (tmp's buffer is reused) */
    write_bytes(gp, good, good_len);
    Gguf g0;
    CHECK(gguf_open(&g0, gp, &e) == 0);
    const GgufTensor *tq = gguf_tensor(&g0, "blk.0.attn_q.weight");
    CHECK(tq && tq->type == GGML_TYPE_Q4_0);
    size_t qoff = tq ? (size_t)(tq->data - (const uint8_t *)g0.map.data) : 0;
    gguf_close(&g0);
    memcpy(b, good, good_len);
    uint16_t inf = 0x7c00;
    memcpy(b + qoff + 18 * 3, &inf, 2); /* the 4th block: 64 columns are 2 blocks a row */
    char bp[1024];
    snprintf(bp, sizeof bp, "%s", tmp("bad.gguf"));
    write_bytes(bp, b, good_len);
    LlmModel m;
    int q;
    QErr e3 = {{0}};
    CHECK(llm_load_gguf(&m, bp, &q, &e3) == -1);
    CHECK_MSG(strstr(e3.msg, bp) && strstr(e3.msg, "blk.0.attn_q.weight") && strstr(e3.msg, "row 1, block 1 has a non-finite scale"),
              "%s", e3.msg);
    /* a packed linear's rows folded into one (the same elements and bytes: a sound container):
     * refused on its shape before anything is sized from it */
    memcpy(b, good, good_len);
    int64_t ne[2];
    memcpy(ne, b + tn + 4, 16);
    int64_t folded[2] = {ne[0] * ne[1], 1};
    memcpy(b + tn + 4, folded, 16);
    write_bytes(bp, b, good_len);
    QErr e4 = {{0}};
    CHECK(llm_load_gguf(&m, bp, &q, &e4) == -1);
    CHECK_MSG(strstr(e4.msg, bp) && strstr(e4.msg, "blk.1.ffn_down.weight has shape") && strstr(e4.msg, "the metadata implies"), "%s",
              e4.msg);
    free(b);
    free(good);
    tokenizer_free(tok);
    fix_free(&f);
}

/* the writer's key/values and tensors, read back */
TEST(container) {
    GgufWriter w;
    gguf_w_init(&w);
    gguf_w_u32(&w, "a.u32", 123456);
    gguf_w_f32(&w, "a.f32", 0.25f);
    gguf_w_str(&w, "a.str", "hello");
    gguf_w_bool(&w, "a.bool", 1);
    const char *ss[3] = {"x", "", "zz"};
    gguf_w_arr_str(&w, "a.strs", ss, NULL, 3);
    float fv[3] = {1, 2, 3};
    gguf_w_arr_f32(&w, "a.f32s", fv, 3);
    float t1[5] = {1, -2, 3, -4, 5};
    int64_t ne1 = 5, ne2[2] = {32, 2};
    gguf_w_tensor(&w, "t1", GGML_TYPE_F32, 1, &ne1, t1, 20, 0);
    QBlockQ8_0 q[2];
    int8_t codes[32];
    for (int i = 0; i < 32; i++) codes[i] = (int8_t)(i * 7 - 100);
    qblock_q8_0_pack(codes, 32, qf32_to_f16(0.5f), &q[0]);
    qblock_q8_0_pack(codes, 20, qf32_to_f16(-2.0f), &q[1]);
    gguf_w_tensor(&w, "t2", GGML_TYPE_Q8_0, 2, ne2, q, sizeof q, 0);
    QErr e;
    uint64_t bytes;
    const char *path = tmp("c.gguf");
    CHECK(gguf_w_write(&w, path, &bytes, &e) == 0);
    gguf_w_free(&w);
    Gguf g;
    CHECK(gguf_open(&g, path, &e) == 0);
    uint32_t u;
    float fl;
    const char *s;
    uint64_t n;
    CHECK(gguf_get_u32(&g, "a.u32", &u, &e) == 0 && u == 123456);
    CHECK(gguf_get_f32(&g, "a.f32", &fl, &e) == 0 && fl == 0.25f);
    CHECK(gguf_get_str(&g, "a.str", &s, &n, &e) == 0 && n == 5 && memcmp(s, "hello", 5) == 0);
    const GgufKV *kv = gguf_kv(&g, "a.strs");
    CHECK(kv && kv->n == 3);
    if (kv) {
        gguf_arr_str(kv, 2, &s, &n);
        CHECK(n == 2 && memcmp(s, "zz", 2) == 0);
    }
    CHECK(gguf_get_u32(&g, "a.str", &u, &e) == -1 && strstr(e.msg, "expected an integer"));
    const GgufTensor *a = gguf_tensor(&g, "t1"), *b = gguf_tensor(&g, "t2");
    CHECK(a && b && a->nbytes == 20 && b->nbytes == 68 && b->offset % 32 == 0 && g.data_off % 32 == 0);
    if (a && b) {
        CHECK(memcmp(a->data, t1, 20) == 0);
        float row[32];
        qblock_q8_0_dequant_row((const QBlockQ8_0 *)b->data + 1, 32, row);
        CHECK(row[0] == -2.0f * codes[0] && row[19] == -2.0f * codes[19] && row[20] == 0.0f);
    }
    CHECK((uint64_t)g.map.len == bytes);
    gguf_close(&g);
}

/* llama.cpp's K superblocks, one element at a time, worked out by hand from the layouts that
 * qblock_k.c writes down (the 6-bit scales whose high bits sit in other bytes included).
 * gguf.sh holds whole files to ggml's own dequantization; this runs under ASan. */
TEST(k_superblocks) {
    uint8_t b[210];
    float y[256];
    const uint16_t one = 0x3C00, half = 0x3800; /* f16 1.0, 0.5 */
    /* Q4_K: d, dmin, scales[12], qs[128]; sub-block 1 = the high nibbles of qs[0..31]
     * (scale b[1] & 63 = 3, min b[5] & 63 = 2); sub-block 5 = the high nibbles of qs[64..95]
     * (scale (b[9] & 15) | (b[1] >> 6) << 4 = 49, min (b[9] >> 4) | (b[5] >> 6) << 4 = 39) */
    memset(b, 0, sizeof b);
    memcpy(b, &one, 2);
    memcpy(b + 2, &half, 2);
    b[4 + 1] = 0xC3, b[4 + 5] = 0x82, b[4 + 9] = 0x71;
    b[16 + 3] = 0xA0;      /* element 32 + 3: q 10 */
    b[16 + 64 + 7] = 0xF0; /* element 160 + 7: q 15 */
    CHECK(ggml_dequant_k(GGML_TYPE_Q4_K, b, 256, y) == 0);
    CHECK(y[35] == 3.0f * 10 - 0.5f * 2);     /* 29 */
    CHECK(y[167] == 49.0f * 15 - 0.5f * 39);  /* 715.5 */
    CHECK(y[36] == -1.0f);                    /* q 0: -dmin m */
    /* Q5_K: the same with qh[32] before qs: bit s of qh[l] adds 16 to element l of sub-block s */
    memset(b, 0, sizeof b);
    memcpy(b, &one, 2);
    memcpy(b + 2, &half, 2);
    b[4 + 1] = 0xC3, b[4 + 5] = 0x82, b[4 + 9] = 0x71;
    b[16 + 3] = 1 << 1;  /* qh[3], sub-block 1 */
    b[48 + 3] = 0xA0;
    CHECK(ggml_dequant_k(GGML_TYPE_Q5_K, b, 256, y) == 0);
    CHECK(y[35] == 3.0f * 26 - 0.5f * 2);     /* 77 */
    CHECK(y[3] == -0.0f - 0.0f);              /* sub-block 0: scale and min 0 */
    /* Q3_K: hmask[32], qs[64], scales[12], d.  Sub-block 9 (elements 144-159): low 4 bits of
     * its scale scales[1] >> 4 = 5, high 2 bits (scales[8 + 9 % 4] >> 2 (9 / 4)) & 3 = 3: 53,
     * factor 53 - 32 = 21; element 148 (half 1, i = 20): 2 bits of qs[32 + 20], its high bit
     * (hmask[20] bit 4) set: q = 2; element 149: the high bit clear: q = 2 - 4 */
    memset(b, 0, sizeof b);
    memcpy(b + 108, &one, 2);
    b[96 + 1] = 0x50, b[96 + 9] = 0x30;
    b[32 + 32 + 20] = 0x02, b[32 + 32 + 21] = 0x02;
    b[20] = 0x10;
    CHECK(ggml_dequant_k(GGML_TYPE_Q3_K, b, 256, y) == 0);
    CHECK(y[148] == 42.0f);
    CHECK(y[149] == -42.0f);
    /* Q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin.  Element 200: half
     * 1, i = 72: sub-block 12, 2 bits at shift 4 of qs[32 + 8] */
    memset(b, 0, sizeof b);
    memcpy(b + 80, &one, 2);
    memcpy(b + 82, &half, 2);
    b[12] = 0x35, b[16 + 40] = 0x30;
    CHECK(ggml_dequant_k(GGML_TYPE_Q2_K, b, 256, y) == 0);
    CHECK(y[200] == 5.0f * 3 - 0.5f * 3); /* 13.5 */
    CHECK(y[201] == -1.5f);
    CHECK(ggml_dequant_k(GGML_TYPE_Q4_0, b, 256, y) == -1);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/quant_test_gguf_%d", (int)getpid());
    QErr e;
    qmkdir_p(tmpdir, &e);
    RUN(container);
    RUN(llama_w4_halves_padded);
    RUN(llama_w8_interleaved);
    RUN(gpt2_w4);
    RUN(refusals);
    RUN(bad_files);
    RUN(k_superblocks);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) {
    }
    return test_summary("test_gguf");
}
