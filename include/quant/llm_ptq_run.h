/* llm_ptq_run.h — the whole ptq-llm job as a library call: open the model, split the text
 * into evaluation and calibration tokens, measure fp32, quantize every requested variant
 * (weights RTN/GPTQ at each bit width and group size; W8A8 per-token / per-tensor / with
 * outlier decomposition), measure perplexity, collect the three reports, save. */
#ifndef QUANT_LLM_PTQ_RUN_H
#define QUANT_LLM_PTQ_RUN_H

#include "quant/llm_eval.h"
#include "quant/llm_ptq.h"

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
    int emb_bits;                /* 8 or 0 (fp32) */
    double eval_fraction;        /* share of a shared file used for evaluation (rest: calibration) */
    int64_t max_windows;         /* cap on evaluation windows (0: all) */
    const char *save_dir;
    int save_format;             /* 0 quant-llm, 1 GGUF (llm_gguf.h), 2 GPTQ-layout directory
                                    (llm_gptq_dir.h); variants with no exact mapping are reported, not saved */
    int threads;
    int smooth;                  /* SmoothQuant W8A8 rows (per token, per tensor) */
    int64_t w8a8_group;          /* W8A8 rows' weight groups (32: Q8_0 blocks; 0: per channel) */
    int w4a8;                    /* every 4-bit weight variant also with 8-bit per-token activations */
    int act_range;               /* static per-tensor ranges: 1 chosen on each site's output error
                                    (llm_act_ranges_search, default), 0 min-max (before session 7) */
    int outlier_channels;        /* > 0: the outlier fixture (llm_inject_outliers) on every copy of the model */
    float outlier_factor;
    int stream;                  /* 0 auto: streamed when the plan allows it (llm_stream.h); 1 required; -1 never */
} LlmPtqOpts;
void llm_ptq_opts_default(LlmPtqOpts *o);

typedef struct LlmPtqRow {
    char method[24];
    int wbits, abits;
    int64_t group;               /* 0 = per channel, -1 = fp32 */
    double bpw;                  /* bits per linear weight incl. scales */
    size_t bytes;                /* file size */
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
} LlmPtqReport;

int llm_ptq_run(const LlmPtqOpts *o, LlmPtqReport *r, QErr *err);

#endif
