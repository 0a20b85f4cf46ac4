/* test_llm_plan.c — ptq-llm's plan (src/llm/ptq/plan.c) on model shapes alone: what a budget
 * leaves out, what it must keep (flags the user gave, the core variants), that the estimate
 * then fits, that small models are left as they are, and the cost's closed forms. */
#include "quant/llm_ptq_run.h"
#include "test.h"

static const LlmConfig STORIES = {LLM_ARCH_LLAMA, 64, 172, 5, 8, 4, 512, 512, 1e-5f, 10000.0f, 1, 1, 0, 0};
static const LlmConfig DISTILGPT2 = {LLM_ARCH_GPT2, 768, 3072, 6, 12, 12, 50257, 1024, 1e-5f, 0.0f, 0, 1, 0, 0};

/* the CLI's defaults: the preset's variants, W8A8 rows, W4A8, tuning */
static void defaults(LlmPtqOpts *o, LlmPreset p) {
    llm_ptq_opts_default(o);
    o->preset = p;
    LlmWQuant t = {LLM_Q_RTN, 8, 32, 1, 1, 0.01, 1, 1, 0.001, 2, 1, 0, 0};
    o->n_variants = llm_preset_variants(p, &t, o->variants, LLM_PTQ_MAX_VARIANTS);
}

static int has(const LlmPtqOpts *o, LlmQMethod m, int bits) {
    for (int v = 0; v < o->n_variants; v++)
        if (o->variants[v].method == m && o->variants[v].bits == bits) return 1;
    return 0;
}

TEST(default_table) {
    LlmPtqOpts o;
    defaults(&o, LLM_PRESET_DEFAULT);
    CHECK(o.n_variants == 9); /* rtn x 8, 4, 3, 2; awq+gptq 8; awq 4; gptq 4, 3, 2 */
    CHECK(o.variants[3].bits == 2 && o.variants[3].group_size == 16);
    CHECK(o.variants[4].method == LLM_Q_AWQ_GPTQ && o.variants[4].bits == 8); /* the default W8 */
    CHECK(o.variants[6].method == LLM_Q_GPTQ && o.variants[6].bits == 4 && o.variants[6].group_size == 32);
    defaults(&o, LLM_PRESET_FAST);
    CHECK(o.n_variants == 2 && has(&o, LLM_Q_RTN, 8) && has(&o, LLM_Q_RTN, 4));
    CHECK(o.variants[0].tune_epochs == 0 && o.variants[0].e2e_epochs == 0);
    defaults(&o, LLM_PRESET_BEST);
    CHECK(o.n_variants == 9 && o.variants[6].tune_epochs == 4 && o.variants[6].e2e_epochs == 2);
}

/* stories260K's default plan fits its budget: nothing is left out, every window evaluated */
TEST(stories_untouched) {
    LlmPtqOpts o;
    defaults(&o, LLM_PRESET_DEFAULT);
    o.seq_len = 256;
    LlmPtqPlan p;
    CHECK(llm_ptq_plan(&o, &STORIES, 767, &p) == 0);
    CHECK_MSG(p.trimmed[0] == 0, "%s", p.trimmed);
    CHECK(o.n_variants == 9 && o.gen_samples == 384 && o.calib_samples == 128 && o.act_bits == 8 && o.smooth);
    CHECK(p.eval_windows == 767 && o.max_windows == 767 && p.calib_pass);
    CHECK(p.est_seconds > 0 && p.est_seconds <= p.budget_seconds);
}

/* the seed's command on distilgpt2's shape: --calib_samples=200 given and kept, the rest trimmed
 * to the 10-minute default, the core variants kept, refit left out for memory */
TEST(distilgpt2_seed_command) {
    LlmPtqOpts o;
    defaults(&o, LLM_PRESET_DEFAULT);
    o.seq_len = 128;
    o.calib_samples = 200;
    o.given = LLM_GIVEN_CALIB;
    LlmPtqPlan p;
    CHECK(llm_ptq_plan(&o, &DISTILGPT2, 2236, &p) == 0);
    CHECK(o.calib_samples == 200);
    CHECK(has(&o, LLM_Q_RTN, 8) && has(&o, LLM_Q_RTN, 4) && has(&o, LLM_Q_GPTQ, 4));
    CHECK(!has(&o, LLM_Q_RTN, 2) && !has(&o, LLM_Q_GPTQ, 2));
    for (int v = 0; v < o.n_variants; v++) /* GPTQ: no end-to-end tuning, no refit */
        if (llm_qmethod_gptq(o.variants[v].method)) CHECK(o.variants[v].e2e_epochs == 0 && o.variants[v].refit == 0);
    CHECK(o.gen_samples == 0);
    CHECK_MSG(p.est_seconds <= p.budget_seconds, "%.0f s > %.0f s", p.est_seconds, p.budget_seconds);
    CHECK(p.eval_windows >= 32 && p.eval_windows < 2236 && o.max_windows == p.eval_windows);
    CHECK(strstr(p.trimmed, "refit") != NULL);
    /* no budget: nothing left out but refit (memory, not time) */
    defaults(&o, LLM_PRESET_DEFAULT);
    o.seq_len = 128;
    o.calib_samples = 200;
    o.budget_minutes = 0;
    CHECK(llm_ptq_plan(&o, &DISTILGPT2, 2236, &p) == 0);
    CHECK(o.n_variants == 9 && p.eval_windows == 2236 && o.gen_samples == 384);
}

/* flags the user gave stay whatever the budget */
TEST(given_kept) {
    LlmPtqOpts o;
    defaults(&o, LLM_PRESET_DEFAULT);
    o.seq_len = 128;
    o.max_windows = 500;
    o.budget_minutes = 0.5;
    o.given = LLM_GIVEN_WINDOWS | LLM_GIVEN_VARIANTS | LLM_GIVEN_E2E | LLM_GIVEN_GEN | LLM_GIVEN_REFIT;
    LlmPtqPlan p;
    CHECK(llm_ptq_plan(&o, &DISTILGPT2, 2236, &p) == 0);
    CHECK(o.n_variants == 9 && o.max_windows == 500 && p.eval_windows == 500 && o.gen_samples == 384);
    CHECK(o.variants[6].e2e_epochs == 1 && o.variants[6].refit == 1);
    CHECK(o.calib_samples == 16); /* not given: halved down to 16 */
    CHECK(p.est_seconds > p.budget_seconds); /* what was asked does not fit, and is kept */
}

/* RTN alone, no report: no calibration pass, and its cost is the evaluations only */
TEST(fast_no_calibration) {
    LlmPtqOpts o;
    defaults(&o, LLM_PRESET_FAST);
    o.act_bits = 0;
    o.seq_len = 128;
    o.max_windows = 10;
    o.given = LLM_GIVEN_WINDOWS;
    LlmPtqPlan p;
    CHECK(llm_ptq_plan(&o, &DISTILGPT2, 2236, &p) == 0);
    CHECK(!p.calib_pass && p.n_steps == 3);
    /* closed form: windows x S x (2 linears + 2 V D + attention 2 L S D + 20 V) / rate, per row */
    double lin = 6.0 * (4.0 * 768 * 768 + 2.0 * 3072 * 768), V = 50257, D = 768;
    double f = 10.0 * 128 * (2 * lin + 2 * V * D + 2.0 * 6 * 128 * D + 20 * V);
    for (int i = 0; i < 3; i++) CHECK_NEAR(p.steps[i].seconds, f / (p.gflops * 1e9), 1e-9);
}

int main(void) {
    RUN(default_table);
    RUN(stories_untouched);
    RUN(distilgpt2_seed_command);
    RUN(given_kept);
    RUN(fast_no_calibration);
    return test_summary("test_llm_plan");
}
