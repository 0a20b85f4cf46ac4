/* test_hostile.c — regression tests for the classes of hostile-file bugs of issue 11: each
 * builds a small malicious file and checks that its reader refuses it with one error line
 * naming the file and field (on the code before the fix these crashed, aborted on a huge
 * allocation, hit undefined behaviour, returned out-of-range ids, or accepted NaN weights).
 * The inputs the fuzzers found are replayed separately (tests/fuzz/regressions/). */
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <zlib.h>

#include "quant/checked.h"
#include "quant/llm.h"
#include "quant/llm_qfile.h"
#include "quant/nn_data.h"
#include "quant/nn_file.h"
#include "quant/safetensors.h"
#include "quant/tokenizer.h"

static const char *tpath(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}
static void write_str(const char *path, const char *s) { write_file(path, s, strlen(s)); }

static int contains(const char *msg, const char *want) { return strstr(msg, want) != NULL; }

/* ------------------------------------------------------------ checked arithmetic */
TEST(checked_helpers) {
    int64_t r;
    CHECK(q_mul_i64(3, 5, &r) == 0 && r == 15);
    CHECK(q_mul_i64(INT64_MAX / 2, 3, &r) == -1);
    CHECK(q_mul_i64(-1, 3, &r) == -1);
    CHECK(q_add_i64(INT64_MAX, 1, &r) == -1);
    size_t z;
    CHECK(q_mul_size(SIZE_MAX / 2 + 1, 2, &z) == -1);
    CHECK(q_add_size(SIZE_MAX, 1, &z) == -1);
    QSize s = qs_add(qs_mul3(1 << 20, 1 << 20, 1 << 20), qs(5)); /* 2^60 + 5 fits */
    CHECK(!s.bad && s.v == ((int64_t)1 << 60) + 5);
    s = qs_mul(s, qs(16));
    CHECK(s.bad);
    s = qs_add(s, qs(1)); /* sticks */
    CHECK(s.bad);
    QErr err = {{0}};
    CHECK(q_budget("f", "the table", 100, 99, &err) == -1 && contains(err.msg, "refused before allocating"));
    CHECK(q_budget("f", "the table", -1, 99, &err) == -1 && contains(err.msg, "overflows"));
    CHECK(q_budget("f", "the table", 99, 99, &err) == 0);
    float x[3] = {1, NAN, 2};
    CHECK(q_check_finite(x, 3, "f", "w", &err) == -1 && contains(err.msg, "'w' element 1 is nan"));
    q_allow_nonfinite(1);
    CHECK(q_check_finite(x, 3, "f", "w", &err) == 0);
    q_allow_nonfinite(0);
}

/* ------------------------------------------------------------------ safetensors */
static void write_st(const char *path, const char *hdr, size_t data_len) {
    FILE *f = fopen(path, "wb");
    uint64_t n = strlen(hdr);
    fwrite(&n, 8, 1, f);
    fwrite(hdr, 1, n, f);
    for (size_t i = 0; i < data_len; i++) fputc(0, f);
    fclose(f);
}

/* Overlap hidden by an empty tensor sorted between the two overlapping ones: the old check
 * compared each tensor only with its sorted neighbour. */
TEST(safetensors_overlap_behind_empty_tensor) {
    const char *p = tpath("ovl.safetensors");
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
             16);
    Safetensors st;
    QErr err = {{0}};
    CHECK(st_open(&st, p, &err) == -1);
    CHECK_MSG(contains(err.msg, "overlap") && contains(err.msg, "'a'") && contains(err.msg, "'b'"), "%s", err.msg);
    /* and many tensors covering one region: each overlaps the first, not only its neighbour */
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
             "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
             16);
    CHECK(st_open(&st, p, &err) == -1 && contains(err.msg, "overlap"));
    /* adjacent tensors and empty tensors anywhere are fine */
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
             16);
    CHECK_MSG(st_open(&st, p, &err) == 0, "%s", err.msg);
    st_close(&st);
}

/* ------------------------------------------------------------------- config.json */
static void write_hf_dir(const char *dir, const char *config) {
    mkdir(dir, 0777);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_str(p, config);
}

/* 4 * n_embd in int (undefined behaviour) and products of dims wrapping in size_t: every
 * dimension now has a range, every product is checked. */
TEST(config_dims_overflow) {
    const char *d = tpath("hf_overflow");
    write_hf_dir(d, "{\"architectures\":[\"GPT2LMHeadModel\"],\"n_embd\":600000000,\"n_layer\":1,\"n_head\":1,"
                    "\"n_positions\":8,\"vocab_size\":8}");
    LlmConfig c;
    QErr err = {{0}};
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", d);
    CHECK(llm_config_from_json(&c, p, &err) == -1);
    CHECK_MSG(contains(err.msg, "n_inner") && contains(err.msg, "config.json"), "%s", err.msg);
    write_hf_dir(d, "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":999999744,\"num_hidden_layers\":"
                    "1000000000,\"num_attention_heads\":2,\"intermediate_size\":1000000000,\"vocab_size\":1000000000}");
    CHECK(llm_config_from_json(&c, p, &err) == -1);
    CHECK_MSG(contains(err.msg, "out of range"), "%s", err.msg);
}

/* A config implying far more weights than the safetensors hold is refused before the
 * allocation, and tensors sharing one region cannot inflate what the files seem to hold. */
TEST(hf_budget_with_overlapping_tensors) {
    const char *d = tpath("hf_budget");
    write_hf_dir(d, "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":4096,\"num_hidden_layers\":64,"
                    "\"num_attention_heads\":32,\"intermediate_size\":16384,\"vocab_size\":65536}");
    /* 100 F32 tensors of 2^18 elements on one 1 MiB region, each 8 bytes after the previous,
     * with an empty tensor sorted between each pair: the neighbour-only overlap check saw no
     * overlap, and the size guard saw 100 MiB of weights */
    size_t cap = 200 * 100 + 64, n = 0;
    char *hdr = malloc(cap);
    n += (size_t)snprintf(hdr + n, cap - n, "{");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(hdr + n, cap - n,
                              "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[262144],\"data_offsets\":[%d,%d]},"
                              "\"e%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[%d,%d]}",
                              i ? "," : "", i, 8 * i, 8 * i + (1 << 20), i, 8 * i + 4, 8 * i + 4);
    snprintf(hdr + n, cap - n, "}");
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    write_st(p, hdr, (1 << 20) + 800);
    free(hdr);
    LlmModel m;
    QErr err = {{0}};
    CHECK(llm_load_hf(&m, d, &err) == -1);
    CHECK_MSG(contains(err.msg, "overlap"), "%s", err.msg);
    write_st(p, "{\"x\":{\"dtype\":\"F32\",\"shape\":[256],\"data_offsets\":[0,1024]}}", 1024);
    CHECK(llm_load_hf(&m, d, &err) == -1);
    CHECK_MSG(contains(err.msg, "refused before allocating"), "%s", err.msg);
}

/* A tiny Llama HF directory (D 2, F 2, 1 layer, 1 head, V 4, tied) whose weights are given by
 * `fill` (F16); one element can be made non-finite. */
static void write_tiny_hf(const char *d, uint16_t poison) {
    write_hf_dir(d, "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":2,\"num_hidden_layers\":1,"
                    "\"num_attention_heads\":1,\"intermediate_size\":2,\"vocab_size\":4,\"tie_word_embeddings\":true,"
                    "\"max_position_embeddings\":8}");
    const char *names[] = {"model.embed_tokens.weight", "model.norm.weight",
                           "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
                           "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                           "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
                           "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
                           "model.layers.0.mlp.down_proj.weight"};
    static uint16_t data[11][8];
    StWriteTensor t[11];
    for (int i = 0; i < 11; i++) {
        for (int k = 0; k < 8; k++) data[i][k] = qf32_to_f16(0.25f * (float)(k + 1));
        t[i].name = names[i];
        t[i].dtype = ST_F16;
        t[i].data = data[i];
        if (i == 0) t[i].ndim = 2, t[i].shape[0] = 4, t[i].shape[1] = 2;
        else if (i < 4) t[i].ndim = 1, t[i].shape[0] = 2;
        else t[i].ndim = 2, t[i].shape[0] = 2, t[i].shape[1] = 2;
    }
    data[8][3] = poison; /* gate_proj element 3 */
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    QErr err;
    st_write(p, t, 11, NULL, NULL, 0, &err);
}

TEST(hf_nonfinite_weights) {
    const char *d = tpath("hf_nan");
    LlmModel m;
    QErr err = {{0}};
    write_tiny_hf(d, qf32_to_f16(0.5f));
    CHECK_MSG(llm_load_hf(&m, d, &err) == 0, "%s", err.msg); /* the control loads */
    llm_free(&m);
    write_tiny_hf(d, 0x7c00); /* +inf in F16 */
    CHECK(llm_load_hf(&m, d, &err) == -1);
    CHECK_MSG(contains(err.msg, "mlp.gate_proj.weight") && contains(err.msg, "inf"), "%s", err.msg);
    write_tiny_hf(d, 0x7e00); /* NaN */
    CHECK(llm_load_hf(&m, d, &err) == -1);
    CHECK_MSG(contains(err.msg, "gate_proj") && contains(err.msg, "nan"), "%s", err.msg);
    q_allow_nonfinite(1); /* for inspection */
    CHECK_MSG(llm_load_hf(&m, d, &err) == 0, "%s", err.msg);
    llm_free(&m);
    q_allow_nonfinite(0);
}

/* ----------------------------------------------------------------------- llama2.c */
static void write_l2c(const char *path, int32_t vocab, float poison) {
    /* dim 2, hidden 2, 1 layer, 1 head, 1 kv head, seq 2: floats
     * V*D + D + D*D*4(q,k,v,o) + D + 3*F*D + D + S*hs (freq_cis), wcls when untied */
    int32_t h[7] = {2, 2, 1, 1, 1, vocab, 2};
    int V = vocab < 0 ? 4 : vocab;
    int n = V * 2 + 2 + 16 + 2 + 12 + 2 + 4 + (vocab < 0 ? V * 2 : 0);
    float *w = calloc((size_t)n, 4);
    for (int i = 0; i < n; i++) w[i] = 0.1f * (float)(i % 7);
    w[n / 2] = poison;
    FILE *f = fopen(path, "wb");
    fwrite(h, 4, 7, f);
    fwrite(w, 4, (size_t)n, f);
    fclose(f);
    free(w);
}

TEST(llama2c_header_int_min) {
    const char *p = tpath("intmin.bin");
    write_l2c(p, 4, 0.5f);
    LlmModel m;
    QErr err = {{0}};
    CHECK_MSG(llm_load_llama2c(&m, p, &err) == 0, "%s", err.msg);
    llm_free(&m);
    int32_t h[7] = {2, 2, 1, 1, 1, INT32_MIN, 2};
    FILE *f = fopen(p, "wb");
    fwrite(h, 4, 7, f);
    fclose(f);
    CHECK(llm_load_llama2c(&m, p, &err) == -1);
    CHECK_MSG(contains(err.msg, "implausible") && contains(err.msg, "vocab -2147483648"), "%s", err.msg);
}

TEST(llama2c_nonfinite_weights) {
    const char *p = tpath("nan.bin");
    LlmModel m;
    QErr err = {{0}};
    write_l2c(p, -4, INFINITY);
    CHECK(llm_load_llama2c(&m, p, &err) == -1);
    CHECK_MSG(contains(err.msg, "tensor '") && contains(err.msg, "inf"), "%s", err.msg);
    write_l2c(p, 4, NAN);
    CHECK(llm_load_llama2c(&m, p, &err) == -1);
    CHECK_MSG(contains(err.msg, "nan"), "%s", err.msg);
}

/* --------------------------------------------------------------- llama2.c tokenizer */
static void put_tok(FILE *f, const char *s, float score) {
    int32_t n = (int32_t)strlen(s);
    fwrite(&score, 4, 1, f);
    fwrite(&n, 4, 1, f);
    fwrite(s, 1, (size_t)n, f);
}

/* <0x00> at id 100 of 300: byte fallback emitted ids up to 355. */
TEST(llama2c_tokenizer_byte_fallback_range) {
    const char *p = tpath("tok300.bin");
    FILE *f = fopen(p, "wb");
    int32_t maxlen = 8;
    fwrite(&maxlen, 4, 1, f);
    char s[16];
    for (int i = 0; i < 300; i++) {
        if (i >= 100 && i < 356) snprintf(s, sizeof s, "<0x%02X>", i - 100);
        else snprintf(s, sizeof s, "t%d", i);
        put_tok(f, s, 0);
    }
    fclose(f);
    Tokenizer *t = NULL;
    QErr err = {{0}};
    int rc = tokenizer_load_llama2c(&t, p, 300, &err);
    if (rc == 0) { /* the old behaviour: loads, then emits ids past the vocabulary */
        int32_t *ids;
        int64_t n;
        tokenizer_encode(t, "\xff\xfe", 2, 0, &ids, &n, &err);
        for (int64_t i = 0; i < n; i++) CHECK_MSG(ids[i] < 300, "id %d >= vocab 300", ids[i]);
        free(ids);
        tokenizer_free(t);
    }
    CHECK(rc == -1);
    CHECK_MSG(contains(err.msg, "byte fallback") && contains(err.msg, "tok300.bin"), "%s", err.msg);
}

/* ---------------------------------------------------------------- vocab.json */
/* 15 bytes asking for ten million ids: refused at once (was 25 s and 400 MB). */
TEST(vocab_json_sparse_ids) {
    const char *d = tpath("vj");
    mkdir(d, 0777);
    char p[600];
    snprintf(p, sizeof p, "%s/vocab.json", d);
    write_str(p, "{\"a\":9999999}");
    snprintf(p, sizeof p, "%s/merges.txt", d);
    write_str(p, "#version: 0.2\n");
    Tokenizer *t = NULL;
    QErr err = {{0}};
    double t0 = qtime_now();
    CHECK(tokenizer_load_hf(&t, d, &err) == -1);
    CHECK(qtime_now() - t0 < 1.0);
    CHECK_MSG(contains(err.msg, "dense") && contains(err.msg, "vocab.json"), "%s", err.msg);
}

/* ----------------------------------------------------------------------- .qnn */
/* A weight-only MLP .qnn (1 layer, 2 -> 2) written by hand, with header fields and tensor
 * bytes given by the test; the CRC is made right so the field checks are what is tested. */
typedef struct QnnT {
    const char *name;
    uint32_t dtype;
    const void *data;
    uint64_t nbytes;
} QnnT;
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void write_qnn(const char *path, uint32_t d0, uint32_t d1, uint32_t bits, uint32_t sym, uint32_t gran,
                      uint32_t group, const QnnT *t, int n) {
    size_t data = 0;
    for (int i = 0; i < n; i++) data += (t[i].nbytes + 7) & ~(size_t)7;
    size_t head = 64 + 48 * (size_t)n, len = head + data + 4;
    uint8_t *b = calloc(len, 1);
    memcpy(b, "QNN1", 4);
    put32(b + 4, 1);
    put32(b + 8, NN_FILE_WEIGHT_ONLY);
    put32(b + 12, 1);
    put32(b + 16, d0);
    put32(b + 20, d1);
    put32(b + 52, bits);
    put32(b + 56, sym | gran << 8);
    put32(b + 60, (uint32_t)n | group << 8);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        uint8_t *e = b + 64 + 48 * i;
        snprintf((char *)e, 24, "%s", t[i].name);
        put32(e + 24, t[i].dtype);
        put64(e + 32, off);
        put64(e + 40, t[i].nbytes);
        memcpy(b + head + off, t[i].data, t[i].nbytes);
        off += (t[i].nbytes + 7) & ~(size_t)7;
    }
    put32(b + len - 4, (uint32_t)crc32(0L, b, (uInt)(len - 4)));
    write_file(path, b, len);
    free(b);
}

TEST(qnn_scheme_fields) {
    const char *p = tpath("g.qnn");
    uint8_t codes[4] = {1, 2, 3, 4};
    float sc[2] = {0.5f, 0.25f}, bias[2] = {0, 0};
    int32_t zero[2] = {0, 0};
    QnnT t[4] = {{"q0", 3, codes, 4}, {"s0", 0, sc, 8}, {"z0", 1, zero, 8}, {"b0", 0, bias, 8}};
    NnLoaded l;
    QErr err = {{0}};
    write_qnn(p, 2, 2, 8, 0, 1, 0, t, 4); /* the control: per-channel, asymmetric */
    CHECK_MSG(nn_load(p, &l, &err) == 0, "%s", err.msg);
    nn_loaded_free(&l);
    /* granularity 7: a division by zero (SIGFPE) before */
    write_qnn(p, 2, 2, 8, 0, 7, 0, t, 4);
    CHECK(nn_load(p, &l, &err) == -1);
    CHECK_MSG(contains(err.msg, "granularity 7"), "%s", err.msg);
    /* a zero-point of INT32_MIN: (code - zero) overflowed int */
    zero[1] = INT32_MIN;
    write_qnn(p, 2, 2, 8, 0, 1, 0, t, 4);
    CHECK(nn_load(p, &l, &err) == -1);
    CHECK_MSG(contains(err.msg, "zero-point") && contains(err.msg, "'z0'"), "%s", err.msg);
    zero[1] = 0;
    /* a NaN scale: non-finite weights */
    sc[1] = NAN;
    write_qnn(p, 2, 2, 8, 0, 1, 0, t, 4);
    CHECK(nn_load(p, &l, &err) == -1);
    CHECK_MSG(contains(err.msg, "'q0'") && contains(err.msg, "nan"), "%s", err.msg);
    /* group size 1 on a 65536 x 65536 layer: a 32 GiB scale table from a 300-byte file */
    static float big_bias[65536];
    QnnT tb[4] = {{"q0", 3, codes, 4}, {"s0", 0, sc, 8}, {"z0", 1, zero, 8}, {"b0", 0, big_bias, sizeof big_bias}};
    write_qnn(p, 65536, 65536, 8, 0, 2, 1, tb, 4);
    CHECK(nn_load(p, &l, &err) == -1);
    CHECK_MSG(contains(err.msg, "refused before allocating"), "%s", err.msg);
}

/* ------------------------------------------------------------------------- IDX */
/* A gzip bomb: the header says 10 images of 28 x 28 (7856 bytes), the stream inflates to
 * 256 MiB.  Decompression now stops one byte past what the header implies. */
TEST(idx_gzip_bomb) {
    const char *ip = tpath("bomb-images.gz"), *lp = tpath("bomb-labels");
    gzFile g = gzopen(ip, "wb9");
    uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28};
    gzwrite(g, hdr, 16);
    static uint8_t zeros[1 << 20];
    for (int i = 0; i < 256; i++) gzwrite(g, zeros, sizeof zeros);
    gzclose(g);
    uint8_t lb[18] = {0, 0, 8, 1, 0, 0, 0, 10};
    write_file(lp, lb, sizeof lb);
    int64_t rss0 = qpeak_rss_bytes();
    NnDataset d;
    QErr err = {{0}};
    CHECK(nn_dataset_load_idx(&d, ip, lp, &err) == -1);
    CHECK_MSG(contains(err.msg, "trailing bytes"), "%s", err.msg);
    int64_t grown = qpeak_rss_bytes() - rss0;
    CHECK_MSG(grown < (64 << 20), "peak RSS grew by %lld bytes", (long long)grown);
}

/* ------------------------------------------------------------ quant's LLM files */
/* A tiny valid quant-llm file (Llama, D 2, F 2, 1 layer, V 4, tied, 8-bit per channel,
 * symmetric), with metadata overrides and one poisoned fp32 element. */
static void write_qllm(const char *path, const char *vocab, const char *dim, float poison) {
    static float emb[8], norm[5][2];
    static uint8_t q[7][4];
    static uint16_t sc[7][2];
    StWriteTensor t[32];
    int n = 0;
    for (int i = 0; i < 8; i++) emb[i] = 0.1f * (float)i;
    t[n++] = (StWriteTensor){"token_embd.weight", ST_F32, 2, {4, 2}, emb};
    const char *nn[3] = {"output_norm.weight", "blk.0.attn_norm.weight", "blk.0.ffn_norm.weight"};
    for (int i = 0; i < 3; i++) {
        norm[i][0] = 1, norm[i][1] = 1;
        t[n++] = (StWriteTensor){nn[i], ST_F32, 1, {2}, norm[i]};
    }
    norm[0][1] = poison;
    const char *lin[7] = {"q", "k", "v", "o", "gate", "up", "down"};
    static char names[7][2][32];
    for (int k = 0; k < 7; k++) {
        for (int i = 0; i < 4; i++) q[k][i] = (uint8_t)(i + 1);
        sc[k][0] = sc[k][1] = qf32_to_f16(0.01f);
        snprintf(names[k][0], 32, "blk.0.%s.qweight", lin[k]);
        snprintf(names[k][1], 32, "blk.0.%s.scale", lin[k]);
        t[n++] = (StWriteTensor){names[k][0], ST_U8, 1, {4}, q[k]};
        t[n++] = (StWriteTensor){names[k][1], ST_F16, 1, {2}, sc[k]};
    }
    const char *mk[] = {"format", "version", "arch", "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads",
                        "vocab_size", "max_seq", "rope_interleaved", "shared_head", "norm_eps", "rope_theta", "bits",
                        "group_size", "symmetric", "emb_bits"};
    const char *mv[] = {LLM_QFILE_FORMAT, LLM_QFILE_VERSION, "0", dim, "2", "1", "1", "1", vocab, "8", "0", "1",
                        "1e-5", "10000", "8", "0", "1", "0"};
    QErr err;
    st_write(path, t, n, mk, mv, (int)(sizeof mk / sizeof *mk), &err);
}

TEST(qfile_budget_and_nonfinite) {
    const char *p = tpath("tiny.safetensors");
    LlmModel m;
    QErr err = {{0}};
    write_qllm(p, "4", "2", 1.0f);
    CHECK_MSG(llm_load_qfile(&m, p, &err) == 0, "%s", err.msg); /* the control */
    llm_free(&m);
    /* metadata asking for 4M x 65536 embeddings (1 TiB) from a 1 KiB file */
    write_qllm(p, "4194304", "65536", 1.0f);
    CHECK(llm_load_qfile(&m, p, &err) == -1);
    CHECK_MSG(contains(err.msg, "refused before allocating"), "%s", err.msg);
    write_qllm(p, "4", "2", NAN);
    CHECK(llm_load_qfile(&m, p, &err) == -1);
    CHECK_MSG(contains(err.msg, "output_norm.weight") && contains(err.msg, "nan"), "%s", err.msg);
}

int main(void) {
    RUN(checked_helpers);
    RUN(safetensors_overlap_behind_empty_tensor);
    RUN(config_dims_overflow);
    RUN(hf_budget_with_overlapping_tensors);
    RUN(hf_nonfinite_weights);
    RUN(llama2c_header_int_min);
    RUN(llama2c_nonfinite_weights);
    RUN(llama2c_tokenizer_byte_fallback_range);
    RUN(vocab_json_sparse_ids);
    RUN(qnn_scheme_fields);
    RUN(idx_gzip_bomb);
    RUN(qfile_budget_and_nonfinite);
    return test_summary("test_hostile");
}
