/* llm_ptq_run.h — the whole ptq-llm job as a library call: open the model, split the text
 * into evaluation and calibration tokens, measure fp32, quantize every requested variant
 * (weights RTN/GPTQ at each bit width and group size; W8A8 per-token / per-tensor / with
 * outlier decomposition), measure perplexity, collect the three reports, save. */
#ifndef QUANT_LLM_PTQ_RUN_H
#define QUANT_LLM_PTQ_RUN_H

#include "quant/llm_eval.h"
#include "quant/llm_ptq.h"
#include "quant/llm_ptq_plan.h"

enum { LLM_PTQ_MAX_VARIANTS = 48, LLM_PTQ_MAX_LAYERS = 128, LLM_PTQ_CH_MAX = 256, LLM_PTQ_MAX_ROWS = 2 * LLM_PTQ_MAX_VARIANTS + 8 };

typedef struct LlmPtqOpts {
    const char *model, *tokenizer;
    const char *calib_text, *eval_text;  /* same file (or calib NULL): split, see eval_fraction */
    const uint8_t *calib_data, *eval_data; /* set: the text itself (a dataset split, dataset.h), and
                                              calib_text / eval_text only name it */
    size_t calib_len, eval_len;
    int seq_len, calib_samples;
    int gen_samples;             /* windows sampled from the fp32 model for end-to-end tuning (LlmDistill) */
    uint64_t seed;
    int n_variants;
    LlmWQuant variants[LLM_PTQ_MAX_VARIANTS];
    int act_bits;                /* 0: no W8A8 rows */
    float outlier_threshold;     /* LLM.int8() decomposition threshold */
    int emb_bits;                /* 2..8, 0 (fp32), or -1: 8 per row when the head is tied to it, else the
                                    weights' width (at least 4) in groups of 32 (a lookup table only) */
    int head_bits;               /* an untied classifier: 8 (Q8_0 blocks), 2..8, or 0 (fp32) */
    double eval_fraction;        /* share of a shared file used for evaluation (rest: calibration) */
    int64_t max_windows;         /* cap on evaluation windows (0: all) */
    const char *save_dir;
    int save_format;             /* 0 quant-llm, 1 GGUF (llm_gguf.h), 2 GPTQ-layout directory
                                    (llm_gptq_dir.h); variants with no exact mapping are reported, not saved */
    int threads;
    int smooth;                  /* SmoothQuant W8A8 rows (per token, per tensor) */
    int64_t w8a8_group;          /* W8A8 rows' weight groups (32: Q8_0 blocks; 0: per channel) */
    int w8a8_refit;              /* W8A8 rows' GPTQ refits first (the plan may leave it out, as for the variants) */
    int w4a8;                    /* every 4-bit weight variant also with 8-bit per-token activations */
    int act_range;               /* static per-tensor ranges: 1 chosen on each site's output error
                                    (llm_act_ranges_search, default), 0 min-max (before session 7) */
    int outlier_channels;        /* > 0: the outlier fixture (llm_inject_outliers) on every copy of the model */
    float outlier_factor;
    int stream;                  /* 0 auto: streamed when the plan allows it (llm_stream.h); 1 required; -1 never */
    LlmPreset preset;            /* the variants and steps asked for (llm_ptq_plan.h) */
    double budget_minutes;       /* the plan is trimmed to fit (< 0: the preset's; 0: no limit) */
    unsigned given;              /* LLM_GIVEN_*: what the user set, never trimmed */
    int report_windows;          /* RTN rows (W8A8's too): calibration windows their error report runs on (0: all) */
    /* called once the plan is made, before anything long starts (the CLI prints it); o is the
     * plan's trimmed copy of the options */
    void (*on_plan)(const LlmPtqPlan *p, const struct LlmPtqOpts *o, void *ctx);
    void *on_plan_ctx;
} LlmPtqOpts;
void llm_ptq_opts_default(LlmPtqOpts *o);
/* The embedding's and classifier's scheme of a variant of `bits`-bit weights (o->emb_bits,
 * o->head_bits): sets w->head_bits and w->emb_group, returns the embedding's width (0: fp32).
 * Default (emb_bits -1): 8 bits per row when the head is tied to it (it is also the
 * classifier), else the weights' width (at least 4) in groups of 32, a lookup table only. */
int  llm_ptq_emb_scheme(const LlmPtqOpts *o, const LlmConfig *c, int bits, LlmWQuant *w);
/* A variant's file name: <stem>-w<bits>[g<group>]-<method>[-affine]<ext> (affine grids get
 * their own name: a run with --affine next to one without kept only the last one's file). */
void llm_ptq_file_name(char *buf, size_t n, const char *stem, const LlmWQuant *s, const char *ext);

typedef struct LlmPtqRow {
    char method[24];
    int wbits, abits;
    int64_t group;               /* 0 = per channel, -1 = fp32 */
    double bpw;                  /* bits per linear weight incl. scales */
    size_t bytes;                /* file size */
    double file_bpw;             /* 8 x every byte of the saved file / every parameter (0: not saved) */
    double ppl, seconds;
    double block_err[LLM_PTQ_MAX_LAYERS];
    double tune_loss[LLM_PTQ_MAX_LAYERS][2];  /* GPTQ block tuning: relative loss before / after (-1: none) */
    double e2e_kl[2];            /* GPTQ end-to-end tuning: calibration KL per token before / after (-1: none) */
    char file[128];
    char act_range[16];          /* static per-tensor rows: "search" or "min-max" ("" otherwise) */
    float range_ratio[LLM_PTQ_MAX_LAYERS * LLM_N_SITES]; /* "search": per site, the share of min-max kept */
} LlmPtqRow;

typedef struct LlmPtqOutlier {
    int layer;
    LlmSite site;
    float absmax, median_channel_absmax;
    int channels_above;
    double weight_kurtosis;      /* of the site's first linear */
    int n_ch, ch_pool;           /* per-channel max|x| in n_ch values, each the max over ch_pool channels */
    float ch_absmax[LLM_PTQ_CH_MAX];
} LlmPtqOutlier;

/* The per-site report of a variant that scales its inputs (SmoothQuant, AWQ). */
typedef struct LlmPtqScale {
    char variant[32];
    int awq;
    LlmScaleSite site[LLM_PTQ_MAX_LAYERS * LLM_N_SITES];  /* [layer * LLM_N_SITES + site] */
} LlmPtqScale;
enum { LLM_PTQ_MAX_SCALES = 8 };

typedef struct LlmPtqReport {
    int n_rows;
    LlmPtqRow rows[LLM_PTQ_MAX_ROWS];
    int n_layers;
    int n_outliers;
    LlmPtqOutlier outliers[LLM_PTQ_MAX_LAYERS * LLM_N_SITES];
    int n_scales;
    LlmPtqScale scales[LLM_PTQ_MAX_SCALES];
    int n_injected;              /* the outlier fixture's channels (0: none) */
    int injected[64];
    char eval_desc[512], calib_desc[256], model_desc[256];
    char distill_desc[256];      /* end-to-end tuning's data ("" when no variant tunes end to end) */
    int64_t eval_windows, eval_tokens_scored;
    double total_seconds;
    int64_t peak_rss;
    LlmPtqPlan plan;             /* what was planned, estimated and trimmed before the run */
} LlmPtqReport;

int llm_ptq_run(const LlmPtqOpts *o, LlmPtqReport *r, QErr *err);

/* The plan (plan.c): trims o (variants, steps, windows) to o->budget_minutes, sets
 * o->max_windows to the evaluation windows N, and fills p.  eval_available: the windows the
 * evaluation text holds. */
int llm_ptq_plan(LlmPtqOpts *o, const LlmConfig *c, int64_t eval_available, LlmPtqPlan *p);

#endif
