/* llm_ptq_plan.h — what a ptq-llm run will do, and how long it should take, decided before it
 * starts: presets (fast | default | best) name the variants and the expensive steps (block and
 * end-to-end tuning, windows sampled from the fp32 model, W8A8 rows, calibration and evaluation
 * windows); a budget in minutes trims them, cheapest loss first, from a cost estimate scaled by
 * the model's shape (its linears, vocabulary, depth) and the token counts.  Flags the user gave
 * are never trimmed.  The estimate is in floating-point operations at a fixed nominal rate, so
 * the plan (and the results) do not depend on the machine's load or the thread count. */
#ifndef QUANT_LLM_PTQ_PLAN_H
#define QUANT_LLM_PTQ_PLAN_H

#include "quant/llm_ptq.h"

typedef enum LlmPreset { LLM_PRESET_DEFAULT = 0, LLM_PRESET_FAST = 1, LLM_PRESET_BEST = 2 } LlmPreset;
const char *llm_preset_name(LlmPreset p);
/* "fast" | "default" | "best" -> *p; -1 + err otherwise. */
int llm_preset_parse(const char *s, LlmPreset *p, QErr *err);
/* Minutes a preset's plan is trimmed to when no --budget-minutes is given (0: no limit). */
double llm_preset_budget_minutes(LlmPreset p);

/* The preset's weight-only variants (method, bits, group; the other fields copied from tmpl,
 * tune_epochs / e2e_epochs set by the preset): the one table of default variants.  Returns
 * their count (at most max). */
int llm_preset_variants(LlmPreset p, const LlmWQuant *tmpl, LlmWQuant *out, int max);
/* Which of a variant's fields the budget may drop first: 0 never, 3 first. */
int llm_variant_priority(const LlmWQuant *v);

/* Flags the user gave (LlmPtqOpts.given): the plan keeps what they say. */
enum {
    LLM_GIVEN_VARIANTS = 1 << 0, LLM_GIVEN_CALIB = 1 << 1, LLM_GIVEN_GEN = 1 << 2, LLM_GIVEN_TUNE = 1 << 3,
    LLM_GIVEN_E2E = 1 << 4, LLM_GIVEN_WINDOWS = 1 << 5, LLM_GIVEN_ACT = 1 << 6, LLM_GIVEN_SMOOTH = 1 << 7,
    LLM_GIVEN_W4A8 = 1 << 8, LLM_GIVEN_REFIT = 1 << 9
};
/* GPTQ's refit keeps every site's fp32 and quantized inputs of a block (tokens x (3 D + F) floats
 * each): past this many bytes the plan leaves refit out unless --refit was given. */
#define LLM_PLAN_REFIT_BYTES ((double)(768u << 20))

/* The shape of the work, in what the estimate needs. */
typedef struct LlmCostShape {
    double lin_params;   /* weights of every block's linears */
    double lin_block;    /* ... of one block */
    double sq_inputs;    /* sum over a block's sites of in^2 (Hessians, refit statistics) */
    double head;         /* V * D */
    int n_layers, dim, vocab, seq_len;
} LlmCostShape;
void llm_cost_shape(const LlmConfig *c, int seq_len, LlmCostShape *s);

enum { LLM_PLAN_MAX_STEPS = 64 };
typedef struct LlmPlanStep {
    char name[40];
    double seconds;      /* estimated */
} LlmPlanStep;
typedef struct LlmPtqPlan {
    LlmPreset preset;
    double budget_seconds;   /* 0: none */
    double gflops;           /* the nominal rate the estimate assumes */
    double est_seconds;
    int calib_pass;          /* 0: nothing needs calibration activations (RTN only, no report needing them) */
    int64_t eval_windows;    /* evaluation windows per row (N) */
    int64_t eval_available;  /* windows the evaluation text holds */
    int n_steps;
    LlmPlanStep steps[LLM_PLAN_MAX_STEPS];
    char trimmed[768];       /* what the budget removed, "" when nothing */
} LlmPtqPlan;

#endif
