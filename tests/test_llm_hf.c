/* test_llm_hf.c — Hugging Face loading and the forward pass against an independent numpy
 * implementation (tests/reference/llm_ref.py) of GPT2LMHeadModel and LlamaForCausalLM.
 * The reference writes small random models (config.json + safetensors, F32/BF16/F16, one file
 * or two shards) and their logits; ours must agree to 1e-4 max abs — for the prompt in one
 * call, in two calls through the KV cache, token by token, and block by block through the
 * PTQ entry points (llm_embed / llm_block_forward / llm_head_forward).  Then broken
 * directories, each rejected with one clear error. */
#include "test.h"

#include <stdint.h>
#include <unistd.h>

#include "quant/llm.h"
#include "quant/llm_eval.h"
#include "quant/llm_open.h"

static const char *python(void) {
    const char *p = getenv("QUANT_PYTHON");
    return (p && *p) ? p : "/usr/bin/python3";
}

static int have_ref(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", python());
    return access("tests/reference/llm_ref.py", R_OK) == 0 && system(cmd) == 0;
}

static int run(const char *fmt, const char *a, const char *b, const char *c) {
    char cmd[2048], tail[1500];
    snprintf(tail, sizeof tail, fmt, a, b, c);
    snprintf(cmd, sizeof cmd, "%s tests/reference/llm_ref.py %s", python(), tail);
    return system(cmd);
}

static double max_abs_diff(const float *x, const double *ref, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - ref[i]);
        if (!(d <= m)) m = d;   /* NaN propagates as a failure */
    }
    return m;
}

static void compare_variant(const char *name, const char *args) {
    char dir[512], out[600];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), name);
    snprintf(out, sizeof out, "%s/ref_logits.bin", dir);
    enum { T = 150 }; /* more than one block of 64 query rows in the attention (forward.c) */
    int32_t ids[T];
    char toks[1024] = "";
    QRng r;
    qrng_seed(&r, 7);
    for (int t = 0; t < T; t++) {
        ids[t] = (int32_t)qrng_below(&r, 97);
        snprintf(toks + strlen(toks), sizeof toks - strlen(toks), "%s%d", t ? "," : "", ids[t]);
    }
    CHECK(run("make %s %s%s", dir, args, "") == 0);
    CHECK(run("logits %s --tokens %s --out %s", dir, toks, out) == 0);
    LlmModel m;
    QErr err = {{0}};
    if (llm_load(&m, dir, &err) != 0) {
        CHECK_MSG(0, "%s: %s", name, err.msg);
        return;
    }
    const int V = m.c.vocab_size;
    double *ref = xmalloc((size_t)T * V * sizeof(double));
    FILE *f = fopen(out, "rb");
    CHECK(f && fread(ref, sizeof(double), (size_t)T * V, f) == (size_t)T * V);
    if (f) fclose(f);

    /* the whole prompt in one call */
    LlmState s;
    llm_state_init(&s, &m, T);
    float *lg = llm_forward(&m, &s, ids, T, 0, NULL, NULL);
    double d1 = max_abs_diff(lg, ref, (size_t)T * V);
    CHECK_MSG(d1 <= 1e-4, "%s: one call: max |ours - numpy| = %g", name, d1);
    /* 8 tokens, then the rest continuing from the KV cache */
    llm_state_free(&s);
    llm_state_init(&s, &m, T);
    lg = llm_forward(&m, &s, ids, 8, 0, NULL, NULL);
    double d2 = max_abs_diff(lg, ref, (size_t)8 * V);
    lg = llm_forward(&m, &s, ids + 8, T - 8, 8, NULL, NULL);
    double d3 = max_abs_diff(lg, ref + (size_t)8 * V, (size_t)(T - 8) * V);
    CHECK_MSG(d2 <= 1e-4 && d3 <= 1e-4, "%s: two calls: %g, %g", name, d2, d3);
    /* one token at a time (generation) */
    llm_state_free(&s);
    llm_state_init(&s, &m, 1);
    double d4 = 0;
    for (int t = 0; t < T; t++) {
        lg = llm_forward(&m, &s, ids + t, 1, t, NULL, NULL);
        double d = max_abs_diff(lg, ref + (size_t)t * V, (size_t)V);
        d4 = d > d4 ? d : d4;
    }
    CHECK_MSG(d4 <= 1e-4, "%s: token by token: %g", name, d4);
    llm_state_free(&s);
    /* the PTQ path: embed, blocks, head */
    llm_state_init(&s, &m, T);
    float *x = xmalloc((size_t)T * m.c.dim * sizeof(float)), *lg2 = xmalloc((size_t)T * V * sizeof(float));
    llm_embed(&m, ids, T, 0, x);
    for (int l = 0; l < m.c.n_layers; l++) llm_block_forward(&m, &s, l, x, T, 0, NULL, NULL);
    llm_head_forward(&m, x, T, lg2);
    double d5 = max_abs_diff(lg2, ref, (size_t)T * V);
    CHECK_MSG(d5 <= 1e-4, "%s: embed/blocks/head: %g", name, d5);
    printf("  %-16s max |ours - numpy|: one call %.2e, cached %.2e/%.2e, stepwise %.2e, blocks %.2e\n", name, d1, d2,
           d3, d4, d5);
    free(x);
    free(lg2);
    llm_state_free(&s);
    free(ref);
    llm_free(&m);
}

TEST(gpt2_f32) {
    if (!have_ref()) SKIP("no %s with numpy or tests/reference/llm_ref.py (run from the repo root)", python());
    compare_variant("gpt2_f32", "--arch gpt2 --dtype F32 --seed 1");
}
TEST(gpt2_bf16) {
    if (!have_ref()) SKIP("no python3 with numpy");
    compare_variant("gpt2_bf16", "--arch gpt2 --dtype BF16 --seed 2");
}
TEST(llama_gqa_untied_f32) {
    if (!have_ref()) SKIP("no python3 with numpy");
    compare_variant("llama_f32", "--arch llama --dtype F32 --seed 3");
}
TEST(llama_bf16_sharded) {
    if (!have_ref()) SKIP("no python3 with numpy");
    compare_variant("llama_bf16_shard", "--arch llama --dtype BF16 --seed 4 --shards 2");
}
TEST(llama_f16) {
    if (!have_ref()) SKIP("no python3 with numpy");
    compare_variant("llama_f16", "--arch llama --dtype F16 --seed 5");
}

TEST(llama_tied_head) {
    if (!have_ref()) SKIP("no python3 with numpy");
    compare_variant("llama_tied", "--arch llama --dtype F32 --seed 6 --tied 1");
}

/* Checkpoint layouts as transformers saves them (issue 14): the tied pair under either name or
 * both, the safetensors __metadata__ alias, GPT-2 with/without "transformer.", saved buffers,
 * F32/F16/BF16 mixed in a file, Mistral, the optional config fields at their plain values. */
TEST(layouts) {
    if (!have_ref()) SKIP("no python3 with numpy");
    compare_variant("gpt2_noprefix_buf", "--arch gpt2 --prefix 0 --buffers 1 --seed 11");
    compare_variant("gpt2_head_only", "--arch gpt2 --tied head --seed 12");
    compare_variant("gpt2_untied", "--arch gpt2 --tied 0 --seed 13");
    compare_variant("gpt2_both_mixed", "--arch gpt2 --tied both --dtype mixed --seed 14");
    compare_variant("llama_alias", "--arch llama --tied alias --tie-flag absent --seed 15");
    compare_variant("llama_alias_true", "--arch llama --tied alias --tie-flag true --dtype BF16 --seed 16");
    compare_variant("llama_head_only", "--arch llama --tied head --tie-flag true --seed 17");
    compare_variant("llama_both", "--arch llama --tied both --tie-flag true --seed 18");
    compare_variant("llama_buf_mix_sh", "--arch llama --buffers 1 --dtype mixed --shards 2 --seed 19");
    compare_variant("llama_alias_shard", "--arch llama --tied alias --tie-flag true --shards 2 --dtype F16 --seed 23");
    compare_variant("llama_untied_flag", "--arch llama --tied 0 --tie-flag false --seed 20");
    compare_variant("mistral", "--arch mistral --config '{\"sliding_window\": 4096}' --seed 21");
    compare_variant("llama_fields",
                    "--arch llama --config '{\"rope_scaling\": null, \"head_dim\": 8, \"attention_bias\": false, "
                    "\"mlp_bias\": false, \"torch_dtype\": \"bfloat16\"}' --seed 22");
}

/* A layout made by llm_ref.py make ARGS is refused with a message containing needle. */
static void expect_refused(const char *name, const char *args, const char *needle) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/refuse_%s", test_tmpdir(), name);
    CHECK(run("make %s %s%s", dir, args, "") == 0);
    LlmModel m;
    QErr err = {{0}};
    int rc = llm_load(&m, dir, &err);
    CHECK_MSG(rc == -1, "%s: accepted", name);
    CHECK_MSG(strstr(err.msg, needle) != NULL && !strchr(err.msg, '\n'), "%s: message '%s' lacks '%s'", name, err.msg,
              needle);
    if (rc == 0) llm_free(&m);
}

TEST(refused_layouts) {
    if (!have_ref()) SKIP("no python3 with numpy");
    expect_refused("extra", "--arch llama --extra model.layers.0.self_attn.q_norm.weight",
                   "unknown tensor 'model.layers.0.self_attn.q_norm.weight'");
    expect_refused("extra_gpt2", "--arch gpt2 --extra transformer.h.0.attn.c_attn.lora",
                   "unknown tensor 'transformer.h.0.attn.c_attn.lora'");
    expect_refused("rope_llama3", "--arch llama --config '{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}'",
                   "rope_scaling type 'llama3' is not supported");
    expect_refused("rope_linear", "--arch llama --config '{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}'",
                   "rope_scaling type 'linear' is not supported");
    expect_refused("head_dim", "--arch llama --config '{\"head_dim\": 16}'", "head_dim 16 x num_attention_heads 6");
    expect_refused("attn_bias", "--arch llama --config '{\"attention_bias\": true}'", "attention_bias true is not supported");
    expect_refused("mlp_bias", "--arch mistral --config '{\"mlp_bias\": true}'", "mlp_bias true is not supported");
    expect_refused("eps", "--arch llama --config '{\"rms_norm_eps\": -1}'", "\"rms_norm_eps\" must be a number");
    expect_refused("gpt2_eps", "--arch gpt2 --config '{\"layer_norm_epsilon\": \"x\"}'", "\"layer_norm_epsilon\" must be");
    expect_refused("dtype", "--arch llama --config '{\"torch_dtype\": \"int8\"}'", "torch_dtype 'int8' is not supported");
    expect_refused("untied_no_head", "--arch llama --tied 1 --tie-flag false",
                   "'lm_head.weight' is missing and config.json sets tie_word_embeddings false");
    expect_refused("untied_head_only", "--arch llama --tied head --tie-flag false", "'model.embed_tokens.weight' is missing");
    expect_refused("arch", "--arch llama --config '{\"architectures\": [\"Qwen2ForCausalLM\"]}'",
                   "unknown architecture 'Qwen2ForCausalLM'");
}

/* Sequence lengths past max_position_embeddings, or past a Mistral sliding window, are refused
 * by perplexity and generation (llm_check_context) with a message saying the limit. */
TEST(context_limits) {
    if (!have_ref()) SKIP("no python3 with numpy");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/mistral_window", test_tmpdir());
    CHECK(run("make %s --arch mistral --config '{\"sliding_window\": 64}'%s%s", dir, "", "") == 0);
    LlmModel m;
    QErr err = {{0}};
    if (llm_load(&m, dir, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    CHECK(m.c.sliding_window == 64 && m.c.max_seq == 160);
    CHECK(llm_check_context(&m.c, 64, &err) == 0);
    CHECK(llm_check_context(&m.c, 65, &err) == -1 && strstr(err.msg, "sliding_window is 64"));
    m.c.sliding_window = 0;
    CHECK(llm_check_context(&m.c, 160, &err) == 0);
    CHECK(llm_check_context(&m.c, 161, &err) == -1 && strstr(err.msg, "context is 160 (max_position_embeddings"));
    llm_free(&m);
}

/* A random Llama model paired with a fixture tokenizer (tests/reference/tok_fixtures.py) whose
 * files name other special tokens: the model's own stop ids end generation, and BOS is added
 * as the tokenizer config says (eval and generate both encode with tok->add_bos). */
static int make_paired(const char *dir, const char *fixture) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s tests/reference/tok_fixtures.py make %s/fx >/dev/null && %s tests/reference/llm_ref.py make %s --arch llama "
             "--vocab 289 --seed 31 && cp %s/fx/%s/* %s/",
             python(), dir, python(), dir, dir, fixture, dir);
    return system(cmd);
}

TEST(generate_stops_at_model_eos) {
    if (!have_ref()) SKIP("no python3 with numpy");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/paired_nobytes", test_tmpdir());
    CHECK(make_paired(dir, "nobytes") == 0);
    LlmModel m;
    Tokenizer *tok;
    QErr err = {{0}};
    if (llm_open(dir, NULL, &m, &tok, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    /* the fixture: <|bos|> = 1 added, EOS <|end|> = 3 (special_tokens_map.json over
     * tokenizer_config.json), stops [3, 2] (generation_config.json) */
    CHECK(tok->bos_id == 1 && tok->eos_id == 3 && tok->add_bos == 1 && tok->n_stop == 2 && tok->stop_ids[0] == 3 &&
          tok->stop_ids[1] == 2);
    /* greedy continuation without stops, by the forward pass */
    enum { G = 8 };
    int32_t *ids, g[G];
    int64_t n;
    CHECK(tokenizer_encode(tok, "Once upon a time", 16, tok->add_bos, &ids, &n, &err) == 0 && ids[0] == 1);
    LlmState s;
    llm_state_init(&s, &m, (int)n);
    const int V = m.c.vocab_size;
    float *lg = llm_forward(&m, &s, ids, (int)n, 0, NULL, NULL) + (size_t)(n - 1) * V;
    for (int i = 0; i < G; i++) {
        int best = 0;
        for (int v = 1; v < V; v++)
            if (lg[v] > lg[best]) best = v;
        g[i] = best;
        lg = llm_forward(&m, &s, &g[i], 1, (int)n + i, NULL, NULL);
    }
    llm_state_free(&s);
    free(ids);
    /* the first token of the continuation not seen before position k >= 2 becomes the model's
     * stop id: generation must end just before it */
    int k = -1;
    for (int i = 2; i < G && k < 0; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= g[j] == g[i];
        if (!seen && g[i] != tok->bos_id) k = i;
    }
    CHECK_MSG(k > 0, "greedy continuation repeats itself");
    if (k > 0) {
        snprintf(path, sizeof path, "%s/generation_config.json", dir);
        FILE *f = fopen(path, "w");
        fprintf(f, "{\"bos_token_id\": 1, \"eos_token_id\": %d}", g[k]);
        fclose(f);
        tokenizer_free(tok);
        llm_free(&m);
        CHECK(llm_open(dir, NULL, &m, &tok, &err) == 0);
        CHECK(tok->n_stop == 1 && tok->stop_ids[0] == g[k] && tokenizer_is_stop(tok, g[k]) && !tokenizer_is_stop(tok, 3));
        LlmSampler smp = {0};
        smp.temperature = 0;
        smp.top_p = 1;
        char *text;
        CHECK(llm_generate(&m, tok, "Once upon a time", G, &smp, NULL, &text, NULL, &err) == 0);
        /* expected: the prompt's text, then the pieces of g[0..k) */
        char want[4096] = "Once upon a time", piece[256];
        for (int i = 0; i < k; i++) {
            size_t pl = tokenizer_piece(tok, i ? g[i - 1] : 0, g[i], piece, sizeof piece - 1);
            piece[pl] = 0;
            strncat(want, piece, sizeof want - strlen(want) - 1);
        }
        CHECK_MSG(strcmp(text, want) == 0, "generated '%s', expected '%s' (stop at step %d)", text, want, k);
        printf("  greedy stops at the model's eos_token_id %d after %d tokens\n", g[k], k);
        free(text);
    }
    tokenizer_free(tok);
    llm_free(&m);
    /* BOS per the tokenizer config: add_bos_token false there -> no BOS */
    snprintf(dir, sizeof dir, "%s/paired_nofallback", test_tmpdir());
    CHECK(make_paired(dir, "nofallback") == 0);
    if (llm_open(dir, NULL, &m, &tok, &err) == 0) {
        CHECK(tok->add_bos == 0 && tok->bos_id == 1);
        CHECK(tokenizer_encode(tok, "Once", 4, tok->add_bos, &ids, &n, &err) == 0 && n >= 1 && ids[0] != 1);
        free(ids);
        tokenizer_free(tok);
        llm_free(&m);
    } else {
        CHECK_MSG(0, "%s", err.msg);
    }
}

/* The hook sees every site's input once per layer, with the widths the linears read; doubling
 * the input of a GPT-2 block's c_fc by the hook equals doubling c_fc's weight (not its bias). */
typedef struct HookLog {
    int calls[8][LLM_N_SITES], width[LLM_N_SITES], double_site, layer;
} HookLog;
static void log_hook(void *ctx, int layer, LlmSite site, float *X, int T, int in) {
    HookLog *h = ctx;
    h->calls[layer][site]++;
    h->width[site] = in;
    if (h->double_site == (int)site && h->layer == layer)
        for (size_t i = 0; i < (size_t)T * in; i++) X[i] *= 2.0f;
}

TEST(hook_sites) {
    if (!have_ref()) SKIP("no python3 with numpy");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/hook_gpt2", test_tmpdir());
    CHECK(run("make %s --arch gpt2 --seed 9%s%s", dir, "", "") == 0);
    LlmModel m, m2;
    QErr err = {{0}};
    if (llm_load(&m, dir, &err) || llm_load(&m2, dir, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    enum { T = 9 };
    int32_t ids[T] = {5, 17, 3, 90, 44, 2, 61, 61, 7};
    HookLog h;
    memset(&h, 0, sizeof h);
    h.double_site = LLM_SITE_UP;
    h.layer = 1;
    LlmState s, s2;
    llm_state_init(&s, &m, T);
    llm_state_init(&s2, &m2, T);
    const float *a = llm_forward(&m, &s, ids, T, 0, log_hook, &h);
    for (int l = 0; l < m.c.n_layers; l++)
        for (int k = 0; k < LLM_N_SITES; k++) CHECK(h.calls[l][k] == 1);
    CHECK(h.width[LLM_SITE_QKV] == m.c.dim && h.width[LLM_SITE_DOWN] == m.c.hidden_dim);
    LlmLinear lin[LLM_MAX_LINEARS];
    int nl = llm_block_linears(&m2, 1, lin);
    for (int i = 0; i < nl; i++)
        if (lin[i].site == LLM_SITE_UP)
            for (size_t j = 0; j < (size_t)lin[i].in * lin[i].out; j++) lin[i].w[j] *= 2.0f;
    const float *b = llm_forward(&m2, &s2, ids, T, 0, NULL, NULL);
    double d = 0;
    for (size_t i = 0; i < (size_t)T * m.c.vocab_size; i++) d = fmax(d, fabs(a[i] - b[i]));
    CHECK_MSG(d < 1e-5, "hook-doubled input vs doubled weight: %g", d);
    llm_state_free(&s);
    llm_state_free(&s2);
    llm_free(&m);
    llm_free(&m2);
}

static void expect_bad(const char *kind, const char *needle) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bad_%s", test_tmpdir(), kind);
    CHECK(run("bad %s %s%s", dir, kind, "") == 0);
    LlmModel m;
    QErr err = {{0}};
    int rc = llm_load(&m, dir, &err);
    CHECK_MSG(rc == -1, "%s: accepted", kind);
    CHECK_MSG(strstr(err.msg, needle) != NULL && !strchr(err.msg, '\n'), "%s: message '%s' lacks '%s'", kind, err.msg,
              needle);
    if (rc == 0) llm_free(&m);
}

TEST(bad_models) {
    if (!have_ref()) SKIP("no python3 with numpy");
    expect_bad("unknown_arch", "unknown architecture 'BertForMaskedLM'");
    expect_bad("dims", "transformer.wte.weight' has shape [97, 32] but config.json implies [97, 40]");
    expect_bad("truncated", "run past the data area");
    expect_bad("offsets", "model.norm.weight': data_offsets");
    expect_bad("missing_tensor", "model.layers.1.mlp.up_proj.weight' is missing");
    LlmModel m;
    QErr err = {{0}};
    char dir[512];
    snprintf(dir, sizeof dir, "%s/empty_dir", test_tmpdir());
    CHECK(qmkdir_p(dir, &err) == 0);
    CHECK(llm_load(&m, dir, &err) == -1 && strstr(err.msg, "no config.json"));
}

int main(void) {
    RUN(gpt2_f32);
    RUN(gpt2_bf16);
    RUN(llama_gqa_untied_f32);
    RUN(llama_bf16_sharded);
    RUN(llama_f16);
    RUN(llama_tied_head);
    RUN(layouts);
    RUN(refused_layouts);
    RUN(context_limits);
    RUN(generate_stops_at_model_eos);
    RUN(hook_sites);
    RUN(bad_models);
    return test_summary("test_llm_hf");
}
