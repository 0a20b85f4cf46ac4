/* seeds.c — writes the seed corpora of the fuzz harnesses with the project's own writers
 * (st_write, nn_save_*, zlib for the .gz IDX), one directory per harness under OUTDIR:
 *   build/fuzz/seeds OUTDIR        (tests/fuzz/seeds.sh runs it)
 * Multi-file inputs join their files with FZ_SEP, as the harnesses split them. */
#include <sys/stat.h>
#include <zlib.h>

#include "fuzz_common.h"
#include "quant/llm_gguf.h"
#include "quant/llm_qfile.h"
#include "quant/nn_file.h"
#include "quant/nn_ptq.h"
#include "quant/qparams.h"

static const char *out_dir;

static void mkd(const char *name) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", out_dir, name);
    mkdir(p, 0755);
}

/* Concatenates files (and FZ_SEP between them) into OUTDIR/<dir>/<name>. */
static void seed_join(const char *dir, const char *name, int n, const char *const *paths) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s/%s", out_dir, dir, name);
    FILE *o = fopen(p, "wb");
    for (int i = 0; i < n; i++) {
        if (i) fwrite(FZ_SEP, 1, sizeof FZ_SEP - 1, o);
        uint8_t *buf;
        size_t len;
        QErr err;
        if (qfile_read_all(paths[i], &buf, &len, &err) == 0) {
            fwrite(buf, 1, len, o);
            free(buf);
        }
    }
    fclose(o);
}
static void seed_bytes(const char *dir, const char *name, const void *data, size_t n) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s/%s", out_dir, dir, name);
    FILE *o = fopen(p, "wb");
    fwrite(data, 1, n, o);
    fclose(o);
}
static void seed_str(const char *dir, const char *name, const char *s) { seed_bytes(dir, name, s, strlen(s)); }
static const char *tmp(const char *name) {
    static char p[4][700];
    static int k;
    char *r = p[k++ & 3];
    snprintf(r, 700, "%s/%s", fz_dir(), name);
    return r;
}

/* --------------------------------------------------------------- safetensors */
static void seeds_safetensors(void) {
    mkd("safetensors");
    float a[6] = {1, -2, 3.5f, 4, 5, -6};
    uint16_t h[3] = {qf32_to_f16(0.5f), qf32_to_f16(-3), qf32_to_f16(1)}, b[2] = {qf32_to_bf16(1.5f), 0};
    int8_t c[4] = {-128, -1, 0, 127};
    StWriteTensor t[4] = {{"a", ST_F32, 2, {2, 3}, a}, {"h", ST_F16, 1, {3}, h}, {"b", ST_BF16, 2, {1, 2}, b},
                          {"c", ST_I8, 1, {4}, c}};
    const char *mk[1] = {"format"}, *mv[1] = {"pt"};
    QErr err;
    st_write(tmp("a.safetensors"), t, 4, mk, mv, 1, &err);
    const char *p[1] = {tmp("a.safetensors")};
    seed_join("safetensors", "four", 1, p);
    st_write(tmp("b.safetensors"), t, 1, NULL, NULL, 0, &err);
    p[0] = tmp("b.safetensors");
    seed_join("safetensors", "one", 1, p);

    mkd("safetensors_sharded");
    st_write(tmp("s1"), t, 2, NULL, NULL, 0, &err);
    st_write(tmp("s2"), t + 2, 2, NULL, NULL, 0, &err);
    FILE *f = fopen(tmp("index.json"), "wb");
    fprintf(f, "{\"metadata\":{\"total_size\":40},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
               "\"h\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\","
               "\"c\":\"model-00002-of-00002.safetensors\"}}");
    fclose(f);
    const char *sp[3] = {tmp("index.json"), tmp("s1"), tmp("s2")};
    seed_join("safetensors_sharded", "two", 3, sp);
}

/* ------------------------------------------------------------ HF and config */
static const char *cfg_llama = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":4,\"num_hidden_layers\":1,"
                               "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"intermediate_size\":6,"
                               "\"vocab_size\":5,\"max_position_embeddings\":8,\"rms_norm_eps\":1e-06,"
                               "\"rope_theta\":10000.0,\"hidden_act\":\"silu\",\"tie_word_embeddings\":false}";
static const char *cfg_gpt2 = "{\"architectures\":[\"GPT2LMHeadModel\"],\"model_type\":\"gpt2\",\"n_embd\":4,"
                              "\"n_layer\":1,\"n_head\":2,\"n_positions\":8,\"n_inner\":6,\"vocab_size\":5,"
                              "\"activation_function\":\"gelu_new\",\"layer_norm_epsilon\":1e-05}";

/* writes the tensors a config implies, values from a fixed pattern, dtype dt */
static void write_hf_tensors(const char *path, int gpt2, StDtype dt) {
    const int D = 4, F = 6, V = 5, S = 8, kvd = gpt2 ? 4 : 2;
    struct {
        const char *name;
        int64_t d0, d1;
    } L[] = {{"model.embed_tokens.weight", V, D}, {"model.norm.weight", D, 0}, {"lm_head.weight", V, D},
             {"model.layers.0.input_layernorm.weight", D, 0}, {"model.layers.0.post_attention_layernorm.weight", D, 0},
             {"model.layers.0.self_attn.q_proj.weight", D, D}, {"model.layers.0.self_attn.k_proj.weight", kvd, D},
             {"model.layers.0.self_attn.v_proj.weight", kvd, D}, {"model.layers.0.self_attn.o_proj.weight", D, D},
             {"model.layers.0.mlp.gate_proj.weight", F, D}, {"model.layers.0.mlp.up_proj.weight", F, D},
             {"model.layers.0.mlp.down_proj.weight", D, F}},
      G[] = {{"wte.weight", V, D}, {"wpe.weight", S, D}, {"h.0.ln_1.weight", D, 0}, {"h.0.ln_1.bias", D, 0},
             {"h.0.attn.c_attn.weight", D, 3 * D}, {"h.0.attn.c_attn.bias", 3 * D, 0}, {"h.0.attn.c_proj.weight", D, D},
             {"h.0.attn.c_proj.bias", D, 0}, {"h.0.ln_2.weight", D, 0}, {"h.0.ln_2.bias", D, 0},
             {"h.0.mlp.c_fc.weight", D, F}, {"h.0.mlp.c_fc.bias", F, 0}, {"h.0.mlp.c_proj.weight", F, D},
             {"h.0.mlp.c_proj.bias", D, 0}, {"ln_f.weight", D, 0}, {"ln_f.bias", D, 0}};
    int n = gpt2 ? (int)(sizeof G / sizeof *G) : (int)(sizeof L / sizeof *L);
    StWriteTensor t[20];
    static uint8_t store[20][512];
    for (int i = 0; i < n; i++) {
        int64_t d0 = gpt2 ? G[i].d0 : L[i].d0, d1 = gpt2 ? G[i].d1 : L[i].d1, numel = d0 * (d1 ? d1 : 1);
        for (int64_t k = 0; k < numel; k++) {
            float v = 0.05f * (float)((k * 7 + i) % 11) - 0.2f;
            if (dt == ST_F32) memcpy(store[i] + 4 * k, &v, 4);
            else {
                uint16_t hv = dt == ST_F16 ? qf32_to_f16(v) : qf32_to_bf16(v);
                memcpy(store[i] + 2 * k, &hv, 2);
            }
        }
        t[i] = (StWriteTensor){gpt2 ? G[i].name : L[i].name, dt, d1 ? 2 : 1, {d0, d1}, store[i]};
    }
    QErr err;
    st_write(path, t, n, NULL, NULL, 0, &err);
}

static void seeds_hf(void) {
    mkd("config");
    seed_str("config", "llama", cfg_llama);
    seed_str("config", "gpt2", cfg_gpt2);
    mkd("hf");
    FILE *f = fopen(tmp("cl"), "wb");
    fputs(cfg_llama, f);
    fclose(f);
    f = fopen(tmp("cg"), "wb");
    fputs(cfg_gpt2, f);
    fclose(f);
    write_hf_tensors(tmp("ml"), 0, ST_F32);
    const char *p[2] = {tmp("cl"), tmp("ml")};
    seed_join("hf", "llama_f32", 2, p);
    write_hf_tensors(tmp("ml"), 0, ST_BF16);
    seed_join("hf", "llama_bf16", 2, p);
    write_hf_tensors(tmp("mg"), 1, ST_F16);
    const char *q[2] = {tmp("cg"), tmp("mg")};
    seed_join("hf", "gpt2_f16", 2, q);
}

/* ------------------------------------------------------------------ llama2.c */
static void seeds_llama2c(void) {
    mkd("llama2c");
    for (int shared = 0; shared < 2; shared++) {
        /* dim 4, hidden 6, 1 layer, 2 heads, 1 kv head, vocab 5, seq 4 */
        int32_t h[7] = {4, 6, 1, 2, 1, shared ? 5 : -5, 4};
        int D = 4, F = 6, V = 5, S = 4, hs = 2, kvd = 2;
        int n = V * D + D + D * D + 2 * kvd * D + D * D + D + 3 * F * D + D + S * hs + (shared ? 0 : V * D);
        uint8_t buf[28 + 4 * 400];
        memcpy(buf, h, 28);
        for (int i = 0; i < n; i++) {
            float v = 0.03f * (float)(i % 13) - 0.15f;
            memcpy(buf + 28 + 4 * i, &v, 4);
        }
        seed_bytes("llama2c", shared ? "shared" : "untied", buf, 28 + 4 * (size_t)n);
    }
}

/* ------------------------------------------------------------- quant LLM file */
static void seeds_qfile(void) {
    mkd("qfile");
    static float emb[20], norm[3][4];
    static uint8_t q[7][48], z[7][16];
    static uint16_t sc[7][12];
    static char names[7][3][40];
    static uint8_t eq[20], hq[20];
    static uint16_t esc[10], hsc[5];
    /* D 4, F 6, 1 layer, 2 heads / 1 kv head, V 5, 4-bit groups of 2 (asymmetric); the third
     * seed adds an untied 8-bit head (groups of 32) and a 4-bit embedding in groups of 2 */
    for (int v = 0; v < 3; v++) {
        const int bits = v == 0 ? 4 : 8, head = v == 2;
        StWriteTensor t[40];
        int n = 0;
        for (int i = 0; i < 20; i++) emb[i] = 0.01f * (float)i;
        if (head) {
            for (int i = 0; i < 20; i++) eq[i] = hq[i] = (uint8_t)(i * 29 + 3);
            for (int i = 0; i < 10; i++) esc[i] = qf32_to_f16(0.02f * (float)(i + 1));
            for (int i = 0; i < 5; i++) hsc[i] = qf32_to_f16(0.03f * (float)(i + 1));
            t[n++] = (StWriteTensor){"token_embd.qweight", ST_U8, 1, {10}, eq};
            t[n++] = (StWriteTensor){"token_embd.scale", ST_F16, 1, {10}, esc};
            t[n++] = (StWriteTensor){"output.qweight", ST_U8, 1, {20}, hq};
            t[n++] = (StWriteTensor){"output.scale", ST_F16, 1, {5}, hsc};
        } else {
            t[n++] = (StWriteTensor){"token_embd.weight", ST_F32, 2, {5, 4}, emb};
        }
        const char *nn[3] = {"output_norm.weight", "blk.0.attn_norm.weight", "blk.0.ffn_norm.weight"};
        for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 4; k++) norm[i][k] = 1;
            t[n++] = (StWriteTensor){nn[i], ST_F32, 1, {4}, norm[i]};
        }
        const char *lin[7] = {"q", "k", "v", "o", "gate", "up", "down"};
        const int rows[7] = {4, 2, 2, 4, 6, 6, 4}, cols[7] = {4, 4, 4, 4, 4, 4, 6};
        for (int k = 0; k < 7; k++) {
            int64_t cnt = (int64_t)rows[k] * cols[k], units = rows[k] * ((cols[k] + 1) / 2);
            for (int i = 0; i < 48; i++) q[k][i] = (uint8_t)(i * 37 + k);
            for (int i = 0; i < 12; i++) sc[k][i] = qf32_to_f16(0.01f * (float)(i + 1));
            for (int i = 0; i < 16; i++) z[k][i] = (uint8_t)(i * 3);
            snprintf(names[k][0], 40, "blk.0.%s.qweight", lin[k]);
            snprintf(names[k][1], 40, "blk.0.%s.scale", lin[k]);
            snprintf(names[k][2], 40, "blk.0.%s.zero", lin[k]);
            t[n++] = (StWriteTensor){names[k][0], ST_U8, 1, {(int64_t)((cnt * bits + 7) / 8)}, q[k]};
            t[n++] = (StWriteTensor){names[k][1], ST_F16, 1, {units}, sc[k]};
            t[n++] = (StWriteTensor){names[k][2], ST_U8, 1, {(units * bits + 7) / 8}, z[k]};
        }
        const char *mk[] = {"format", "version", "arch", "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads",
                            "vocab_size", "max_seq", "rope_interleaved", "shared_head", "norm_eps", "rope_theta",
                            "bits", "group_size", "symmetric", "emb_bits", "group_tail", "emb_group", "head_bits"};
        const char *mv[] = {LLM_QFILE_FORMAT, LLM_QFILE_VERSION, "0", "4", "6", "1", "2", "1", "5", "8", "0", head ? "0" : "1",
                            "1e-5", "10000", bits == 4 ? "4" : "8", "2", "0", head ? "4" : "0", "split", head ? "2" : "0",
                            head ? "8" : "0"};
        QErr err;
        st_write(tmp("q.safetensors"), t, n, mk, mv, (int)(sizeof mk / sizeof *mk), &err);
        const char *p[1] = {tmp("q.safetensors")};
        seed_join("qfile", head ? "w8g2-head" : bits == 4 ? "w4g2" : "w8g2", 1, p);
    }
}

/* ---------------------------------------------------------------------- .qnn */
static void seeds_qnn(void) {
    mkd("qnn");
    NnModel m;
    QRng rng;
    qrng_seed(&rng, 1);
    int hidden[1] = {3};
    QErr err;
    nn_mlp_init(&m, 4, hidden, 1, 2, &rng, &err);
    nn_save_fp32(tmp("fp32.qnn"), &m, NULL, &err);
    const char *p[1] = {tmp("fp32.qnn")};
    seed_join("qnn", "fp32", 1, p);
    NnWeightQuant schemes[3] = {{4, 1, QGRAN_CHANNEL, 0, QOBS_MINMAX}, {3, 0, QGRAN_GROUP, 2, QOBS_MINMAX},
                                {8, 0, QGRAN_TENSOR, 0, QOBS_MINMAX}};
    for (int s = 0; s < 3; s++) {
        NnQuantWeights qw;
        if (nn_quantize_weights(&m, &schemes[s], &qw, &err) == 0) {
            nn_save_weight_only(tmp("wo.qnn"), &qw, NULL, &err);
            p[0] = tmp("wo.qnn");
            char name[16];
            snprintf(name, sizeof name, "wo%d", s);
            seed_join("qnn", name, 1, p);
            nn_quant_weights_free(&qw);
        }
    }
    QParams act[NN_MAX_LAYERS];
    for (int l = 0; l < m.n_layers; l++) {
        qparams_init(&act[l], 8, 0, QGRAN_TENSOR, 0, 1, 1, &err);
        qparams_set_range(&act[l], 0, -1.0f, 2.0f);
    }
    NnQModel qm;
    if (nn_qmodel_convert(&m, act, &qm, &err) == 0) {
        nn_save_int8(tmp("i8.qnn"), &qm, NULL, &err);
        p[0] = tmp("i8.qnn");
        seed_join("qnn", "int8", 1, p);
        nn_qmodel_free(&qm);
    }
    for (int l = 0; l < m.n_layers; l++) qparams_free(&act[l]);
    nn_model_free(&m);
}

/* ----------------------------------------------------------------------- IDX */
static void seeds_idx(void) {
    mkd("idx");
    uint8_t im[16 + 3 * 4 * 4] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4};
    for (int i = 16; i < (int)sizeof im; i++) im[i] = (uint8_t)(i * 29);
    uint8_t lb[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 9, 0};
    FILE *f = fopen(tmp("im"), "wb");
    fwrite(im, 1, sizeof im, f);
    fclose(f);
    f = fopen(tmp("lb"), "wb");
    fwrite(lb, 1, sizeof lb, f);
    fclose(f);
    const char *p[2] = {tmp("im"), tmp("lb")};
    seed_join("idx", "raw", 2, p);
    gzFile g = gzopen(tmp("im.gz"), "wb");
    gzwrite(g, im, sizeof im);
    gzclose(g);
    g = gzopen(tmp("lb.gz"), "wb");
    gzwrite(g, lb, sizeof lb);
    gzclose(g);
    const char *q[2] = {tmp("im.gz"), tmp("lb.gz")};
    seed_join("idx", "gz", 2, q);
}

/* ---------------------------------------------------------------- tokenizers */
static void seeds_tokenizers(void) {
    mkd("tokenizer_bin");
    const char *extra[] = {" ", "e", "t", "h", " t", "th", "he", "the", " the"};
    int V = 3 + 256 + 9;
    FILE *f = fopen(tmp("tok.bin"), "wb");
    uint8_t pre[2] = {(uint8_t)((V - 1) & 0xff), (uint8_t)((V - 1) >> 8)};
    fwrite(pre, 1, 2, f);
    const float scores[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    fz_write_tokbin(f, 9, extra, scores);
    fclose(f);
    const char *p[1] = {tmp("tok.bin")};
    seed_join("tokenizer_bin", "bytes_and_merges", 1, p);
    /* the real tok512.bin, when the shared data is there */
    char real[700];
    snprintf(real, sizeof real, "%s/tok512.bin", quant_data_dir());
    uint8_t *buf;
    size_t len;
    QErr err;
    if (qfile_read_all(real, &buf, &len, &err) == 0) {
        uint8_t *b2 = malloc(len + 2);
        b2[0] = 511 & 0xff, b2[1] = 511 >> 8;
        memcpy(b2 + 2, buf, len);
        seed_bytes("tokenizer_bin", "tok512", b2, len + 2);
        free(b2);
        free(buf);
    }

    mkd("tokenizer_json");
    mkd("vocab_merges");
    /* GPT-2: the 256 byte characters (printable ASCII stands for itself; the others are
     * escaped as \u0100 + n as in bytes_to_unicode) */
    char *vj = malloc(1 << 16);
    size_t n = 0;
    n += (size_t)sprintf(vj + n, "{");
    int k = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        int cp = printable ? c : 256 + k++;
        if (cp == '"' || cp == '\\') n += (size_t)sprintf(vj + n, "\"\\%c\":%d,", cp, c);
        else if (cp < 0x80) n += (size_t)sprintf(vj + n, "\"%c\":%d,", cp, c);
        else n += (size_t)sprintf(vj + n, "\"\\u%04x\":%d,", cp, c);
    }
    n += (size_t)sprintf(vj + n, "\"\\u0120t\":256,\"he\":257,\"\\u0120the\":258,\"<|endoftext|>\":259}");
    const char *merges = "#version: 0.2\n\xc4\xa0 t\nh e\n\xc4\xa0t he\n";
    char *vm = malloc(n + strlen(merges) + 16);
    memcpy(vm, vj, n);
    memcpy(vm + n, FZ_SEP, sizeof FZ_SEP - 1);
    strcpy(vm + n + sizeof FZ_SEP - 1, merges);
    seed_str("vocab_merges", "gpt2", vm);
    free(vm);
    char *tj = malloc(n + 512);
    sprintf(tj, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":259,\"content\":\"<|endoftext|>\",\"special\":true}],"
                "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false},\"model\":{\"type\":\"BPE\","
                "\"vocab\":%.*s,\"merges\":[\"\xc4\xa0 t\",[\"h\",\"e\"],\"\xc4\xa0t he\"]}}", (int)n, vj);
    seed_str("tokenizer_json", "gpt2", tj);
    free(tj);
    free(vj);
    char *lj = malloc(1 << 14);
    n = (size_t)sprintf(lj, "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":"
                            "\"\\u2581\"},{\"type\":\"Replace\"}]},\"pre_tokenizer\":null,\"added_tokens\":[{\"id\":1,"
                            "\"content\":\"<s>\"}],\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"<unk>\":0,"
                            "\"<s>\":1,\"</s>\":2");
    for (int b = 0; b < 256; b++) n += (size_t)sprintf(lj + n, ",\"<0x%02X>\":%d", b, 3 + b);
    sprintf(lj + n, ",\"\\u2581\":259,\"t\":260,\"h\":261,\"e\":262,\"\\u2581t\":263,\"he\":264,\"\\u2581the\":265},"
                    "\"merges\":[\"\\u2581 t\",\"h e\",\"\\u2581t he\"]}}");
    seed_str("tokenizer_json", "llama", lj);
    free(lj);

    mkd("tokenize");
    seed_str("tokenize", "en", "Hello world, it's 3 o'clock! the theatre");
    seed_str("tokenize", "utf8", "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x8e\x89 \xe2\x96\x81x <0x41> <s>");
    seed_bytes("tokenize", "bytes", "\xff\x00\xfe\x01\xc3", 5);

    mkd("args");
    seed_bytes("args", "flags", "--bits\0" "4\0--lr=0.01\0--hidden\0" "8,4\0--verbose\0pos\0--methods=rtn,gptq", 57);
    seed_bytes("args", "bad", "--bits=99\0--=x\0--lr\0nan\0--hidden\0" "1,,2", 33);
}

/* ---------------------------------------------------------------------- GGUF */
/* A llama2c checkpoint over a 268-token tokenizer.bin (the one seeds_tokenizers writes),
 * exported by quant's own GGUF writer as F32 and as F16. */
static void seeds_gguf(void) {
    mkd("gguf");
    /* dim 4, hidden 6, 1 layer, 2 heads, 1 kv head, vocab 268 (shared head), seq 4 */
    int D = 4, F = 6, V = 268, S = 4, hs = 2, kvd = 2;
    int32_t h[7] = {D, F, 1, 2, 1, V, S};
    int n = V * D + D + D * D + 2 * kvd * D + D * D + D + 3 * F * D + D + S * hs;
    FILE *f = fopen(tmp("g.bin"), "wb");
    fwrite(h, 4, 7, f);
    for (int i = 0; i < n; i++) {
        float v = 0.03f * (float)(i % 13) - 0.15f;
        fwrite(&v, 4, 1, f);
    }
    fclose(f);
    QErr err;
    const char *extra[] = {" ", "e", "t", "h", " t", "th", "he", "the", " the"};
    const float scores[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    f = fopen(tmp("g_tok.bin"), "wb");
    fz_write_tokbin(f, 9, extra, scores);
    fclose(f);
    LlmExportHold hold;
    if (llm_export_hold_open(&hold, tmp("g.bin"), tmp("g_tok.bin"), &err)) {
        fprintf(stderr, "seeds: gguf: %s\n", err.msg);
        return;
    }
    for (int f16 = 0; f16 < 2; f16++) {
        LlmGgufOpts o = {.f16 = f16};
        LlmExportReport r;
        if (llm_export_gguf(&hold.src, tmp("g.gguf"), &o, &r, &err)) {
            fprintf(stderr, "seeds: gguf: %s\n", err.msg);
            continue;
        }
        const char *p[1] = {tmp("g.gguf")};
        seed_join("gguf", f16 ? "llama_f16" : "llama_f32", 1, p);
    }
    llm_export_hold_free(&hold);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0755);
    seeds_safetensors();
    seeds_hf();
    seeds_llama2c();
    seeds_qfile();
    seeds_qnn();
    seeds_idx();
    seeds_tokenizers();
    seeds_gguf();
    return 0;
}

/* fuzz_common.h declares it; seeds.c is not a harness */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)data;
    (void)size;
    return 0;
}
