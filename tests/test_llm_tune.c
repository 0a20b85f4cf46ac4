/* test_llm_tune.c — the Llama and GPT-2 block forward/backward of block-wise tuning (src/llm/ptq/tune.c,
 * included here for its internals): the forward against the runtime's llm_block_forward, every
 * weight and norm gradient against central finite differences of the loss, and the tuning
 * itself lowering the block loss of a quantized block without touching its codes.  The attention
 * works in blocks of 3 query rows here, so that T = 7 crosses two block edges and ends ragged. */
#define TUNE_ATT_ROWS 3
#include "../src/llm/ptq/tune.c"

#include "quant/llm.h"
#include "test.h"

enum { D = 16, H = 4, HKV = 2, F = 24, T = 7 };
/* the whole-model tests' tiny models: L2 blocks, vocabulary 11, untied head */
enum { L2 = 2, VOC = 11 };
#include "tiny_model.h"


typedef struct Fix {
    LlmConfig c;
    float *W[7], *bias[7], *g1, *g2, *nb1, *nb2, *x, *tgt, *rope;
    Blk b;
} Fix;

/* variant 0: Llama, RoPE on halves; 1: Llama, interleaved RoPE; 2: GPT-2 (LayerNorm, biases, GELU) */
static void fix_init(Fix *f, int variant) {
    QRng r;
    qrng_seed(&r, 42 + variant);
    memset(f, 0, sizeof *f);
    int gpt2 = variant == 2, hkv = gpt2 ? H : HKV;
    f->c = (LlmConfig){.arch = gpt2 ? LLM_ARCH_GPT2 : LLM_ARCH_LLAMA, .dim = D, .hidden_dim = F, .n_layers = 1, .n_heads = H,
                       .n_kv_heads = hkv, .vocab_size = 4, .max_seq = T, .norm_eps = 1e-5f,
                       .rope_theta = gpt2 ? 0.0f : 10000.0f, .rope_interleaved = variant == 1};
    int kvd = hkv * (D / H);
    int in7[7] = {D, D, D, D, D, D, F}, out7[7] = {D, kvd, kvd, D, F, F, D};
    int in6[6] = {D, D, D, D, D, F}, out6[6] = {D, kvd, kvd, D, F, D};
    f->b.c = &f->c;
    f->b.nl = gpt2 ? 6 : 7;
    f->b.gpt2 = gpt2;
    f->b.up = f->b.nl - 2;
    f->b.down = f->b.nl - 1;
    for (int k = 0; k < f->b.nl; k++) {
        int in = gpt2 ? in6[k] : in7[k], out = gpt2 ? out6[k] : out7[k];
        f->W[k] = randv(&r, (size_t)in * out, 0.4f, 0.0f);
        f->b.W[k] = f->W[k];
        f->b.in[k] = in;
        f->b.out[k] = out;
        if (gpt2) f->b.bias[k] = f->bias[k] = randv(&r, (size_t)out, 0.1f, 0.0f);
    }
    f->g1 = randv(&r, D, 0.2f, 1.0f);
    f->g2 = randv(&r, D, 0.2f, 1.0f);
    f->b.g1 = f->g1;
    f->b.g2 = f->g2;
    if (gpt2) {
        f->b.nb1 = f->nb1 = randv(&r, D, 0.1f, 0.0f);
        f->b.nb2 = f->nb2 = randv(&r, D, 0.1f, 0.0f);
    }
    f->x = randv(&r, (size_t)T * D, 1.0f, 0.0f);
    f->tgt = randv(&r, (size_t)T * D, 1.0f, 0.0f);
    f->rope = rope_table(&f->c, T);
    f->b.rope = f->rope;
}
static void fix_free(Fix *f) {
    for (int k = 0; k < 7; k++) {
        free(f->W[k]);
        free(f->bias[k]);
    }
    free(f->g1);
    free(f->g2);
    free(f->nb1);
    free(f->nb2);
    free(f->x);
    free(f->tgt);
    free(f->rope);
}

static double loss_of(Fix *f, Work *w) {
    block_fwd(&f->b, w, f->x);
    double l = 0;
    for (int i = 0; i < T * D; i++) l += (double)(w->y[i] - f->tgt[i]) * (w->y[i] - f->tgt[i]);
    return l / (T * D);
}

TEST(tune_forward_equals_runtime_block) {
    for (int il = 0; il < 3; il++) {
        Fix f;
        fix_init(&f, il);
        LlmLayer layer = {.attn_norm = f.g1, .wq = f.W[0], .wk = f.W[1], .wv = f.W[2], .wo = f.W[3], .ffn_norm = f.g2};
        if (il == 2) {
            layer.w_up = f.W[4];
            layer.w_down = f.W[5];
            layer.bq = f.bias[0];
            layer.bk = f.bias[1];
            layer.bv = f.bias[2];
            layer.bo = f.bias[3];
            layer.b_up = f.bias[4];
            layer.b_down = f.bias[5];
            layer.attn_norm_b = f.nb1;
            layer.ffn_norm_b = f.nb2;
        } else {
            layer.w_gate = f.W[4];
            layer.w_up = f.W[5];
            layer.w_down = f.W[6];
        }
        LlmModel m;
        memset(&m, 0, sizeof m);
        m.c = f.c;
        m.layers = &layer;
        LlmState st;
        llm_state_init(&st, &m, T);
        float *x = xmalloc(sizeof(float) * T * D);
        memcpy(x, f.x, sizeof(float) * T * D);
        llm_block_forward(&m, &st, 0, x, T, 0, NULL, NULL);
        Work w;
        work_init(&w, &f.c, T);
        block_fwd(&f.b, &w, f.x);
        double md = 0;
        for (int i = 0; i < T * D; i++) md = fmax(md, fabs((double)x[i] - w.y[i]));
        CHECK_MSG(md < 1e-5, "variant %d: max diff %g", il, md);
        work_free(&w);
        llm_state_free(&st);
        free(x);
        fix_free(&f);
    }
}

TEST(tune_gradients_match_finite_differences) {
    for (int il = 0; il < 3; il++) {
        Fix f;
        fix_init(&f, il);
        Work w;
        work_init(&w, &f.c, T);
        Grads g;
        grads_init(&g, &f.b);
        block_fwd(&f.b, &w, f.x);
        block_bwd(&f.b, &w, f.tgt, 1.0 / (T * D), &g);
        CHECK_NEAR(g.loss, loss_of(&f, &w), 1e-9);
        QRng r;
        qrng_seed(&r, 7);
        int bad = 0, n = 0;
        const int nl = f.b.nl;
        for (int k = 0; k < nl + 2; k++) {
            for (int rep = 0; rep < 12; rep++) {
                float *p;
                double an;
                if (k < nl) {
                    int64_t i = qrng_below(&r, (uint32_t)(f.b.in[k] * f.b.out[k]));
                    p = &f.W[k][i];
                    an = g.dW[k][i];
                } else {
                    int i = (int)qrng_below(&r, D);
                    p = k == nl ? &f.g1[i] : &f.g2[i];
                    an = k == nl ? g.dg1[i] : g.dg2[i];
                }
                float v = *p, hh = 1e-2f;
                *p = v + hh;
                double lp = loss_of(&f, &w);
                *p = v - hh;
                double lm = loss_of(&f, &w);
                *p = v;
                double fd = (lp - lm) / (2.0 * hh);
                n++;
                if (fabs(fd - an) > 2e-3 * fmax(1.0, fabs(fd)) + 1e-4) {
                    bad++;
                    fprintf(stderr, "  param %d: analytic %g, finite difference %g\n", k, an, fd);
                }
            }
        }
        CHECK_MSG(bad == 0, "variant %d: %d of %d gradients off", il, bad, n);
        grads_free(&g, &f.b);
        work_free(&w);
        fix_free(&f);
    }
}

/* the whole model's forward + KL backward (model_fwd_bwd) against finite differences: the
 * final norm, and weights and norms of the first block, whose gradient crosses every block */
static void e2e_gradcheck(int gpt2) {
    TinyModel tm;
    tiny_init(&tm, gpt2, 99 + gpt2);
    LlmModel *m = &tm.m;
    float *rope = rope_table(&m->c, T);
    TBlock tb[L2];
    memset(tb, 0, sizeof tb);
    const int nl = gpt2 ? 6 : 7;
    for (int l = 0; l < L2; l++) {
        LlmLinear lin[LLM_MAX_LINEARS];
        CHECK(llm_block_linears(m, l, lin) == nl);
        tb[l].b.c = &m->c;
        tb[l].b.nl = nl;
        tb[l].b.gpt2 = gpt2;
        tb[l].b.up = nl - 2;
        tb[l].b.down = nl - 1;
        tb[l].b.rope = rope;
        tb[l].b.g1 = m->layers[l].attn_norm;
        tb[l].b.g2 = m->layers[l].ffn_norm;
        tb[l].b.nb1 = m->layers[l].attn_norm_b;
        tb[l].b.nb2 = m->layers[l].ffn_norm_b;
        for (int k = 0; k < nl; k++) {
            tb[l].b.bias[k] = lin[k].b;
            tb[l].b.W[k] = lin[k].w;
            tb[l].b.in[k] = lin[k].in;
            tb[l].b.out[k] = lin[k].out;
        }
    }
    int32_t tokens[T] = {1, 4, 9, 2, 2, 7, 10};
    float teacher[T * VOC];
    QRng r;
    qrng_seed(&r, 8);
    for (int t = 0; t < T; t++) { /* a random distribution per position, as log-probabilities */
        double z[VOC], sum = 0;
        for (int v = 0; v < VOC; v++) sum += z[v] = exp(qrng_normal(&r));
        for (int v = 0; v < VOC; v++) teacher[t * VOC + v] = (float)log(z[v] / sum);
    }
    MWork mw;
    memset(&mw, 0, sizeof mw);
    mw.w = xmalloc(L2 * sizeof(Work));
    mw.g = xmalloc(L2 * sizeof(Grads));
    for (int l = 0; l < L2; l++) {
        work_init(&mw.w[l], &m->c, T);
        grads_init(&mw.g[l], &tb[l].b);
    }
    mw.dgf = xcalloc(D, sizeof(double));
    float **bufs[] = {&mw.x0, &mw.xh, &mw.xn, &mw.dx, &mw.dx2};
    for (size_t i = 0; i < 5; i++) *bufs[i] = xmalloc((size_t)T * D * sizeof(float));
    mw.r = xmalloc(T * sizeof(float));
    mw.logits = xmalloc((size_t)T * VOC * sizeof(float));
    float *gf = m->final_norm;
    model_fwd_bwd(m, tb, gf, tokens, teacher, 1.0 / T, &mw);
    CHECK(mw.loss > 0.01);
    /* copies of the analytic gradients */
    double an_gf[D], an_g1[D];
    float *an_w[7];
    for (int i = 0; i < D; i++) {
        an_gf[i] = mw.dgf[i];
        an_g1[i] = mw.g[0].dg1[i];
    }
    for (int k = 0; k < nl; k++) {
        size_t nw = (size_t)tb[0].b.in[k] * tb[0].b.out[k];
        an_w[k] = xmalloc(nw * sizeof(float));
        memcpy(an_w[k], mw.g[0].dW[k], nw * sizeof(float));
    }
    int bad = 0, n = 0;
    for (int k = 0; k < nl + 2; k++)
        for (int rep = 0; rep < 8; rep++) {
            float *p;
            double an;
            if (k < nl) {
                int64_t i = qrng_below(&r, (uint32_t)(tb[0].b.in[k] * tb[0].b.out[k]));
                p = (float *)&tb[0].b.W[k][i];
                an = an_w[k][i];
            } else {
                int i = (int)qrng_below(&r, D);
                p = k == nl ? &gf[i] : &m->layers[0].attn_norm[i];
                an = k == nl ? an_gf[i] : an_g1[i];
            }
            float v = *p, hh = 1e-2f;
            double l2[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                *p = v + (sgn ? -hh : hh);
                mw.loss = 0;
                model_fwd_bwd(m, tb, gf, tokens, teacher, 1.0 / T, &mw);
                l2[sgn] = mw.loss;
            }
            *p = v;
            double fd = (l2[0] - l2[1]) / (2.0 * hh);
            n++;
            if (fabs(fd - an) > 3e-3 * fmax(1.0, fabs(fd)) + 1e-4) {
                bad++;
                fprintf(stderr, "  param %d: analytic %g, finite difference %g\n", k, an, fd);
            }
        }
    CHECK_MSG(bad == 0, "%s: %d of %d gradients off", gpt2 ? "gpt-2" : "llama", bad, n);
    for (int k = 0; k < nl; k++) free(an_w[k]);
    for (int l = 0; l < L2; l++) {
        work_free(&mw.w[l]);
        grads_free(&mw.g[l], &tb[l].b);
    }
    free(mw.w);
    free(mw.g);
    free(mw.dgf);
    for (size_t i = 0; i < 5; i++) free(*bufs[i]);
    free(mw.r);
    free(mw.logits);
    free(rope);
    tiny_free(&tm);
}

TEST(tune_end_to_end_gradients_match_finite_differences) {
    e2e_gradcheck(0);
    e2e_gradcheck(1);
}

/* llm_block_tune on a block quantized to 3 bits in groups of 8: the block loss drops, the codes
 * stay, the weights are float16 scale x code, and the norms moved */
TEST(block_tune_lowers_loss_keeps_codes) {
    TinyModel tm;
    tiny_init(&tm, 0, 99);
    LlmModel *m = &tm.m;
    enum { NW = 6 };
    QRng r;
    qrng_seed(&r, 21);
    float *X = randv(&r, (size_t)NW * T * D, 1.0f, 0.0f), *Xq = xmalloc(sizeof(float) * NW * T * D),
          *Y = xmalloc(sizeof(float) * NW * T * D);
    memcpy(Y, X, sizeof(float) * NW * T * D);
    LlmState st;
    llm_state_init(&st, m, T);
    for (int i = 0; i < NW; i++) llm_block_forward(m, &st, 0, Y + (size_t)i * T * D, T, 0, NULL, NULL);
    for (int i = 0; i < NW * T * D; i++) Xq[i] = X[i] + 0.05f * qrng_normal(&r);
    LlmLinear lin[LLM_MAX_LINEARS];
    llm_block_linears(m, 0, lin);
    LlmQLinear ql[7];
    memset(ql, 0, sizeof ql);
    QErr e;
    for (int k = 0; k < 7; k++) {
        CHECK(qparams_init(&ql[k].p, 3, 1, QGRAN_GROUP, 8, lin[k].out, lin[k].in, &e) == 0);
        ql[k].p.scale_f16 = 1;
        ql[k].codes = xmalloc((size_t)lin[k].out * lin[k].in);
        qparams_fit_minmax(&ql[k].p, lin[k].w);
        quantize(&ql[k].p, lin[k].w, ql[k].codes);
        dequantize(&ql[k].p, ql[k].codes, lin[k].w);
    }
    int8_t *codes0 = xmalloc((size_t)F * D);
    memcpy(codes0, ql[4].codes, (size_t)F * D);
    float g0 = m->layers[0].ffn_norm[3];
    LlmTuneOpts o;
    llm_tune_opts_default(&o);
    o.epochs = 30;
    o.batch = 2;
    o.lr = 1e-2f;
    double l0, l1;
    CHECK(llm_block_tune(m, 0, ql, Xq, Y, NW, T, &o, &l0, &l1, &e) == 0);
    CHECK_MSG(l1 < 0.9 * l0, "block loss %g -> %g", l0, l1);
    CHECK(memcmp(codes0, ql[4].codes, (size_t)F * D) == 0);
    CHECK(m->layers[0].ffn_norm[3] != g0);
    int exact = 1;
    for (int k = 0; k < 7; k++) {
        float *w = xmalloc(sizeof(float) * lin[k].out * lin[k].in);
        dequantize(&ql[k].p, ql[k].codes, w);
        for (int i = 0; i < lin[k].out * lin[k].in; i++) exact &= w[i] == lin[k].w[i];
        for (int64_t u = 0; u < ql[k].p.n; u++) exact &= qf16_to_f32(qf32_to_f16(ql[k].p.scale[u])) == ql[k].p.scale[u];
        free(w);
        qparams_free(&ql[k].p);
        free(ql[k].codes);
    }
    CHECK_MSG(exact, "weights are not float16 scale x code");
    llm_state_free(&st);
    free(codes0);
    free(X);
    free(Xq);
    free(Y);
    tiny_free(&tm);
}

/* llm_calib_generate samples from the model: with a prefix of 3 tokens and one token to draw,
 * the draws over many windows follow the softmax of the model's own logits at the prefix
 * (total variation below 0.03 over 20000 draws; the sampling error is about 0.01), banned
 * tokens never appear and the rest are renormalized, the prefix is copied, and the tokens
 * do not depend on the thread count. */
static void sample_check(TinyModel *tm, int32_t bos, int32_t eos) {
    enum { S = 4, PFX = 3, N = 20000 };
    int32_t prompt[2 * S] = {1, 5, 9, 0, 1, 3, 3, 0};
    LlmCalib pr = {2, S, prompt}, g1, g2;
    QErr e = {{0}};
    int old = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK(llm_calib_generate(&tm->m, &pr, N, PFX, bos, eos, 5, &g1, &e) == 0);
    omp_set_num_threads(2);
    CHECK(llm_calib_generate(&tm->m, &pr, N, PFX, bos, eos, 5, &g2, &e) == 0);
    omp_set_num_threads(old);
    CHECK(memcmp(g1.tokens, g2.tokens, sizeof(int32_t) * N * S) == 0);
    for (int p = 0; p < 2; p++) {
        /* expected: the softmax of the logits after prompt p's prefix, without the banned */
        LlmState st;
        llm_state_init(&st, &tm->m, PFX);
        const float *z = llm_forward(&tm->m, &st, prompt + p * S, PFX, 0, NULL, NULL) + (PFX - 1) * VOC;
        double want[VOC], sum = 0, got[VOC] = {0};
        for (int v = 0; v < VOC; v++) sum += (want[v] = v == bos || v == eos ? 0 : exp((double)z[v]));
        for (int v = 0; v < VOC; v++) want[v] /= sum;
        llm_state_free(&st);
        int n = 0, prefix_ok = 1;
        for (int i = p; i < N; i += 2, n++) {
            const int32_t *w = g1.tokens + (size_t)i * S;
            prefix_ok &= memcmp(w, prompt + p * S, sizeof(int32_t) * PFX) == 0;
            got[w[PFX]] += 1;
        }
        CHECK(prefix_ok);
        double tv = 0;
        for (int v = 0; v < VOC; v++) tv += 0.5 * fabs(got[v] / n - want[v]);
        CHECK_MSG(tv < 0.03, "prompt %d: total variation %.4f between the draws and the model's softmax", p, tv);
        if (bos >= 0) CHECK(got[bos] == 0 && got[eos] == 0);
    }
    llm_calib_free(&g1);
    llm_calib_free(&g2);
}

TEST(generated_windows_follow_the_model) {
    TinyModel tm;
    tiny_init(&tm, 0, 99);
    sample_check(&tm, -1, -1);
    sample_check(&tm, 1, 2);
    QErr e = {{0}};
    LlmCalib pr = {1, 4, (int32_t[4]){1, 2, 3, 4}}, g;
    CHECK(llm_calib_generate(&tm.m, &pr, 3, 4, -1, -1, 0, &g, &e) != 0 && strstr(e.msg, "prefix"));
    CHECK(llm_calib_generate(&tm.m, &pr, 3, 2, VOC, -1, 0, &g, &e) != 0 && strstr(e.msg, "vocabulary"));
    tiny_free(&tm);
}

int main(void) {
    RUN(tune_forward_equals_runtime_block);
    RUN(tune_gradients_match_finite_differences);
    RUN(tune_end_to_end_gradients_match_finite_differences);
    RUN(block_tune_lowers_loss_keeps_codes);
    RUN(generated_windows_follow_the_model);
    return test_summary("test_llm_tune");
}
