/* plan.c — presets, the cost estimate and the budget of a ptq-llm run (llm_ptq_plan.h).
 *
 * Costs are floating-point operations of the products that dominate each step (the linears,
 * the classifier, attention, the Hessians and GPTQ's updates), turned into seconds at a fixed
 * nominal rate.  The rate is this project's measured fp32 throughput on 2 cores for
 * distilgpt2-sized products (~50 GFLOP/s); narrower models run their small products less
 * efficiently, so the rate scales down with the width, as (D / 768)^(1/4): stories260K, D 64,
 * at ~27 GFLOP/s (its default run measured 316-397 s of CPU, about 3 min on 2 cores, where a
 * square-root scaling had estimated 7 min before the range search was counted).  The figures are estimates, and
 * say so; they are deterministic, so the same flags give the same plan on any machine. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "quant/llm_ptq_run.h"

const char *llm_preset_name(LlmPreset p) {
    return p == LLM_PRESET_FAST ? "fast" : p == LLM_PRESET_BEST ? "best" : "default";
}

int llm_preset_parse(const char *s, LlmPreset *p, QErr *err) {
    if (strcmp(s, "fast") == 0) *p = LLM_PRESET_FAST;
    else if (strcmp(s, "default") == 0) *p = LLM_PRESET_DEFAULT;
    else if (strcmp(s, "best") == 0) *p = LLM_PRESET_BEST;
    else return qerr_set(err, "--preset %s: expected fast, default or best", s);
    return 0;
}

double llm_preset_budget_minutes(LlmPreset p) { return p == LLM_PRESET_FAST ? 5 : p == LLM_PRESET_BEST ? 60 : 10; }

/* The default variants: one table, in row order (method, bits, group, the budget's priority:
 * 0 kept always, 3 dropped first; fast: in the fast preset).  RTN at every width is the
 * baseline; the default 8-bit weights are awq+gptq (AWQ's scales move outlier channels into the
 * norms, GPTQ then compensates the rounding: <= +0.1% on stories260K, its outlier version and a
 * GPT-2, docs/chapters/05b-outliers.md); AWQ alone at 4 bits; GPTQ (with its tuning) below 8
 * bits.  The default run is every row. */
typedef struct PresetRow {
    LlmQMethod method;
    int bits;
    int64_t group;
    int priority;
    int fast;
} PresetRow;
static const PresetRow DEFAULT_VARIANTS[] = {
    {LLM_Q_RTN, 8, 32, 0, 1},      {LLM_Q_RTN, 4, 32, 0, 1}, {LLM_Q_RTN, 3, 32, 3, 0},  {LLM_Q_RTN, 2, 16, 3, 0},
    {LLM_Q_AWQ_GPTQ, 8, 32, 1, 0}, {LLM_Q_AWQ, 4, 32, 2, 0}, {LLM_Q_GPTQ, 4, 32, 0, 0}, {LLM_Q_GPTQ, 3, 32, 2, 0},
    {LLM_Q_GPTQ, 2, 16, 3, 0},
};
enum { N_DEFAULT_VARIANTS = (int)(sizeof DEFAULT_VARIANTS / sizeof DEFAULT_VARIANTS[0]) };

int llm_preset_variants(LlmPreset p, const LlmWQuant *tmpl, LlmWQuant *out, int max) {
    int n = 0;
    for (int i = 0; i < N_DEFAULT_VARIANTS && n < max; i++) {
        const PresetRow *r = &DEFAULT_VARIANTS[i];
        if (p == LLM_PRESET_FAST && !r->fast) continue;
        LlmWQuant w = *tmpl;
        w.method = r->method;
        w.bits = r->bits;
        w.group_size = r->group;
        if (p == LLM_PRESET_FAST) w.tune_epochs = w.e2e_epochs = 0;
        if (p == LLM_PRESET_BEST) {
            w.tune_epochs *= 2;
            w.e2e_epochs *= 2;
        }
        out[n++] = w;
    }
    return n;
}

int llm_variant_priority(const LlmWQuant *v) {
    for (int i = 0; i < N_DEFAULT_VARIANTS; i++) {
        const PresetRow *r = &DEFAULT_VARIANTS[i];
        if (r->method == v->method && r->bits == v->bits && r->group == v->group_size) return r->priority;
    }
    return 0; /* a variant the user named */
}

void llm_cost_shape(const LlmConfig *c, int seq_len, LlmCostShape *s) {
    double D = c->dim, F = c->hidden_dim, kvd = (double)c->dim / c->n_heads * c->n_kv_heads;
    int gate = c->arch == LLM_ARCH_LLAMA;
    s->lin_block = 2 * D * D + 2 * kvd * D + (gate ? 3 : 2) * F * D;
    s->lin_params = s->lin_block * c->n_layers;
    s->sq_inputs = 3 * D * D + F * F; /* sites qkv, o, up: D inputs; down: F */
    s->head = (double)c->vocab_size * D;
    s->n_layers = c->n_layers;
    s->dim = c->dim;
    s->vocab = c->vocab_size;
    s->seq_len = seq_len;
}

/* Σ out · in² over a block's linears: GPTQ's and AWQ's weight-space products. */
static double cube(const LlmCostShape *s, double F) {
    double D = s->dim;
    return (s->lin_block - 2 * F * D) * D + F * D * D + D * F * F;
}

typedef struct Cost {
    const LlmCostShape *s;
    double F, rate;      /* FFN width; flop/s */
    double tok_c;        /* calibration tokens */
    double tok_r;        /* ... of RTN's error report */
} Cost;

static double fwd_tok(const Cost *k) { /* one token through the whole model, classifier included */
    const LlmCostShape *s = k->s;
    return 2 * s->lin_params + 2 * s->head + 2.0 * s->n_layers * s->seq_len * s->dim;
}
static double blk_tok(const Cost *k) { return 2 * k->s->lin_block + 2.0 * k->s->seq_len * k->s->dim; }
static double sec(const Cost *k, double flop) { return flop / k->rate; }
static double eval_s(const Cost *k, int64_t windows, double hook) {
    return sec(k, (double)windows * k->s->seq_len * (fwd_tok(k) + 20.0 * k->s->vocab) * hook);
}
/* quantizing one variant (without its evaluation) */
static double variant_s(const Cost *k, const LlmWQuant *v, int calib_pass, int gen) {
    const LlmCostShape *s = k->s;
    double L = s->n_layers, t = k->tok_c, f = 0;
    /* the two streams (the error report; GPTQ's inputs) */
    if (calib_pass) f += 2 * L * (v->method == LLM_Q_RTN ? k->tok_r : t) * blk_tok(k);
    if (v->method == LLM_Q_AWQ || v->method == LLM_Q_AWQ_GPTQ) /* capture, H, power grid, clipping */
        f += L * (t * blk_tok(k) + 2 * t * s->sq_inputs + (21 + (v->method == LLM_Q_AWQ ? 20 : 0)) * 2 * cube(s, k->F));
    if (llm_qmethod_gptq(v->method)) {
        /* the site-by-site pass is the quantized stream's pass (counted above); the Hessians,
         * the factors and sweeps; after block tuning the block runs again */
        f += L * (2 * t * s->sq_inputs * (v->refit ? 3 : 1) + 4 * cube(s, k->F));
        if (v->bits < 8 && v->tune_epochs > 0) f += v->tune_epochs * L * t * blk_tok(k) * 4 + L * t * blk_tok(k);
        if (v->bits < 8 && v->e2e_epochs > 0) f += v->e2e_epochs * (t + (double)gen * s->seq_len) * fwd_tok(k) * 4;
    }
    return sec(k, f);
}

/* Fills p from o (whose variants, windows and steps it may trim); eval_available: windows the
 * evaluation text holds. */
static double estimate(const Cost *k, const LlmPtqOpts *o, int64_t N, LlmPtqPlan *p) {
    const LlmCostShape *s = k->s;
    p->n_steps = 0;
#define STEP(sec_, ...)                                                                                                \
    do {                                                                                                               \
        if (p->n_steps < LLM_PLAN_MAX_STEPS) {                                                                         \
            LlmPlanStep *st_ = &p->steps[p->n_steps++];                                                                \
            snprintf(st_->name, sizeof st_->name, __VA_ARGS__);                                                        \
            st_->seconds = (sec_);                                                                                     \
        }                                                                                                              \
    } while (0)
    double total = 0, x = 0;
    int need_gen = 0;
    for (int v = 0; v < o->n_variants; v++)
        need_gen |= llm_qmethod_gptq(o->variants[v].method) && o->variants[v].bits < 8 && o->variants[v].e2e_epochs > 0;
    x = eval_s(k, N, 1.0);
    STEP(x, "fp32 perplexity");
    total += x;
    if (p->calib_pass) {
        x = sec(k, k->tok_c * s->n_layers * blk_tok(k));
        STEP(x, "calibration statistics");
        total += x;
    }
    if (need_gen && o->gen_samples > 0) {
        /* decoding runs matrix-vector products: about 3x the flop time of a batched forward */
        x = sec(k, 3.0 * o->gen_samples * (s->seq_len - LLM_GEN_PREFIX) * fwd_tok(k));
        STEP(x, "sample %d windows", o->gen_samples);
        total += x;
    }
    for (int v = 0; v < o->n_variants; v++) {
        const LlmWQuant *w = &o->variants[v];
        x = variant_s(k, w, p->calib_pass, need_gen ? o->gen_samples : 0) + eval_s(k, N, 1.0);
        if (w->group_size > 0) STEP(x, "%s w%d g%lld", llm_qmethod_name(w->method), w->bits, (long long)w->group_size);
        else STEP(x, "%s w%d channel", llm_qmethod_name(w->method), w->bits);
        total += x;
        if (o->w4a8 && o->act_bits > 0 && w->bits == 4) {
            x = eval_s(k, N, 1.2);
            STEP(x, "  + a8 per token");
            total += x;
        }
    }
    if (o->act_bits > 0) {
        /* run.c's W8A8 weights: GPTQ, except the decomposition's row (RTN, re-quantized) */
        LlmWQuant w8 = {LLM_Q_GPTQ, 8, o->w8a8_group, 1, 1, 0.01, 1, o->w8a8_refit, 0.001, 0, 0, 0, 0}, w8r = w8;
        w8r.method = LLM_Q_RTN;
        int rows = o->smooth ? 5 : 3;
        for (int r = 0; r < rows; r++) {
            x = variant_s(k, r == 2 ? &w8r : &w8, 1, 0) + eval_s(k, N, 1.2);
            if (r >= 3) /* SmoothQuant: alpha search on <= 8192 rows, statistics again */
                x += sec(k, s->n_layers * (k->tok_c * blk_tok(k) * 2 + 21.0 * fmin(k->tok_c, 8192) * 2 * s->lin_block));
            if ((r == 1 || r == 4) && o->act_range) /* static ranges searched: ~91 products of every input, all rows */
                x += sec(k, s->n_layers * (k->tok_c * blk_tok(k) + 91.0 * k->tok_c * 2 * s->lin_block));
            static const char *names[5] = {"w8a8 token", "w8a8 tensor", "w8a8 int8()", "sq w8a8 token", "sq w8a8 tensor"};
            STEP(x, "%s", names[r]);
            total += x;
        }
    }
#undef STEP
    return total;
}

static void note(LlmPtqPlan *p, const char *what) {
    size_t n = strlen(p->trimmed);
    snprintf(p->trimmed + n, sizeof p->trimmed - n, "%s%s", n ? "; " : "", what);
}

int llm_ptq_plan(LlmPtqOpts *o, const LlmConfig *c, int64_t eval_available, LlmPtqPlan *p) {
    memset(p, 0, sizeof *p);
    LlmCostShape s;
    llm_cost_shape(c, o->seq_len, &s);
    p->preset = o->preset;
    p->budget_seconds = 60.0 * (o->budget_minutes >= 0 ? o->budget_minutes : llm_preset_budget_minutes(o->preset));
    p->gflops = 50.0 * fmin(1.0, pow(c->dim / 768.0, 0.25));
    p->eval_available = eval_available;
    Cost k = {&s, c->hidden_dim, p->gflops * 1e9, (double)o->calib_samples * o->seq_len, 0};
#define REPORT_TOKENS()                                                                                              \
    (k.tok_r = (double)(o->report_windows > 0 && o->report_windows < o->calib_samples ? o->report_windows           \
                                                                                      : o->calib_samples) *          \
               o->seq_len)
    REPORT_TOKENS();
    /* calibration activations are needed by GPTQ / AWQ, the W8A8 rows and the outlier report
     * (which the default and best presets print); RTN alone needs none */
    int calib = o->act_bits > 0 || o->preset != LLM_PRESET_FAST;
    for (int v = 0; v < o->n_variants; v++) calib |= o->variants[v].method != LLM_Q_RTN;
    p->calib_pass = calib;
    /* memory before time: refit's stores of a block's inputs grow with the calibration tokens */
    double refit_bytes = 2.0 * k.tok_c * (3.0 * c->dim + c->hidden_dim) * sizeof(float);
    if (refit_bytes > LLM_PLAN_REFIT_BYTES && !(o->given & LLM_GIVEN_REFIT)) {
        int dropped = o->act_bits > 0 && o->w8a8_refit;
        o->w8a8_refit = 0;
        for (int v = 0; v < o->n_variants; v++)
            if (llm_qmethod_gptq(o->variants[v].method) && o->variants[v].refit) {
                o->variants[v].refit = 0;
                dropped = 1;
            }
        if (dropped) {
            char b[128];
            snprintf(b, sizeof b, "GPTQ's refit (its stores would take %.0f MB; --refit True keeps it)", refit_bytes / 1048576);
            note(p, b);
        }
    }
    int64_t N = o->max_windows > 0 && o->max_windows < eval_available ? o->max_windows : eval_available;
    const int fixedN = (o->given & LLM_GIVEN_WINDOWS) != 0;
    const double B = p->budget_seconds;
    /* the evaluation windows: as many as fit in 40% of the budget (every row evaluates them),
     * at least 32 */
    int rows = 1 + o->n_variants;
    for (int step = 0;; step++) {
        double t = estimate(&k, o, N, p);
        if (B <= 0 || t <= B) break;
        if (!fixedN && N > 32) {
            rows = 1 + o->n_variants + (o->act_bits > 0 ? (o->smooth ? 5 : 3) : 0);
            for (int v = 0; v < o->n_variants; v++) rows += o->w4a8 && o->act_bits > 0 && o->variants[v].bits == 4;
            double per = eval_s(&k, 1, 1.0) * rows;
            int64_t fit = (int64_t)(0.4 * B / per);
            if (fit < 32) fit = 32;
            if (fit < N) {
                char b[96];
                snprintf(b, sizeof b, "evaluation windows %lld -> %lld", (long long)N, (long long)fit);
                note(p, b);
                N = fit;
                continue;
            }
        }
        /* then the steps, in the order that loses least per second saved */
        int done = 0;
        if (o->report_windows == 0 || o->report_windows > 16) { /* RTN's error report: an estimate on fewer windows */
            if (o->calib_samples > 16) {
                o->report_windows = 16;
                REPORT_TOKENS();
                note(p, "RTN rows' error report on 16 of the calibration windows");
                done = 1;
            }
        }
        if (!done && !(o->given & (LLM_GIVEN_GEN | LLM_GIVEN_E2E))) {
            for (int v = 0; v < o->n_variants; v++)
                if (o->variants[v].e2e_epochs > 0 && llm_qmethod_gptq(o->variants[v].method) && o->variants[v].bits < 8) {
                    o->variants[v].e2e_epochs = 0;
                    done = 1;
                }
            if (done) {
                char b[96];
                snprintf(b, sizeof b, "end-to-end tuning and its %d sampled windows", o->gen_samples);
                note(p, b);
                o->gen_samples = 0;
            }
        }
        for (int pri = 3; !done && pri >= 1 && !(o->given & LLM_GIVEN_VARIANTS); pri--) {
            int kept = 0;
            for (int v = 0; v < o->n_variants; v++) {
                const LlmWQuant *w = &o->variants[v];
                if (llm_variant_priority(w) == pri) {
                    char b[64];
                    snprintf(b, sizeof b, "%s w%d", llm_qmethod_name(w->method), w->bits);
                    note(p, b);
                    done = 1;
                } else {
                    o->variants[kept++] = *w;
                }
            }
            o->n_variants = kept;
            if (!done && pri == 3 && o->act_bits > 0 && o->smooth && !(o->given & LLM_GIVEN_SMOOTH)) {
                o->smooth = 0;
                note(p, "SmoothQuant W8A8 rows");
                done = 1;
            }
        }
        if (!done && !(o->given & LLM_GIVEN_TUNE)) {
            for (int v = 0; v < o->n_variants; v++)
                if (o->variants[v].tune_epochs > 0 && llm_qmethod_gptq(o->variants[v].method) && o->variants[v].bits < 8) {
                    o->variants[v].tune_epochs = 0;
                    done = 1;
                }
            if (done) note(p, "block tuning");
        }
        if (!done && o->w4a8 && o->act_bits > 0 && !(o->given & LLM_GIVEN_W4A8)) {
            o->w4a8 = 0;
            note(p, "W4A8 rows");
            done = 1;
        }
        if (!done && o->act_bits > 0 && !(o->given & LLM_GIVEN_ACT)) {
            o->act_bits = 0;
            note(p, "W8A8 rows");
            done = 1;
        }
        if (!done && !(o->given & LLM_GIVEN_CALIB) && o->calib_samples > 16) {
            char b[96];
            int to = o->calib_samples / 2 > 16 ? o->calib_samples / 2 : 16;
            snprintf(b, sizeof b, "calibration windows %d -> %d", o->calib_samples, to);
            note(p, b);
            o->calib_samples = to;
            k.tok_c = (double)to * o->seq_len;
            REPORT_TOKENS();
            done = 1;
        }
        if (!done) break; /* nothing left that the user did not ask for */
        (void)step;
    }
#undef REPORT_TOKENS
    (void)rows;
    /* what the trimmed steps left of the budget goes back to the evaluation windows */
    double t = estimate(&k, o, N, p);
    if (B > 0 && !fixedN && t < B && N < eval_available) {
        double per = estimate(&k, o, N + 1, p) - t;
        int64_t more = per > 0 ? (int64_t)((B - t) / per) : 0;
        if (more > 0) {
            int64_t to = N + more < eval_available ? N + more : eval_available;
            char b[96];
            snprintf(b, sizeof b, "then evaluation windows %lld -> %lld (the budget left)", (long long)N, (long long)to);
            note(p, b);
            N = to;
        }
    }
    p->est_seconds = estimate(&k, o, N, p);
    p->eval_windows = N;
    o->max_windows = N;
    return 0;
}
