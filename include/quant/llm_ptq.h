/* llm_ptq.h — post-training quantization of language models.
 *
 * Weights: every linear layer of every block (q, k, v, o, gate/up, down), RTN or GPTQ,
 * 2..8 bits, per channel or per group, block by block: each block is calibrated on the
 * outputs of the blocks already quantized before it, so error compensation (GPTQ) sees the
 * inputs the quantized model will really produce.  The token embedding (and the head, when
 * tied to it) is quantized separately, 8-bit per row by default.
 * Activations (W8A8): int8 inputs to every linear, per token (dynamic) or per tensor
 * (static, calibrated); LLM.int8()-style decomposition keeps input channels whose
 * calibration |x| exceeds a threshold in floating point. */
#ifndef QUANT_LLM_PTQ_H
#define QUANT_LLM_PTQ_H

#include "quant/kernels.h"
#include "quant/llm.h"
#include "quant/qparams.h"
#include "quant/safetensors.h"
#include "quant/smooth.h"
#include "quant/tokenizer.h"

/* ------------------------------------------------------------ calibration */
typedef struct LlmCalib {
    int n, seq_len;
    int32_t *tokens;   /* [n, seq_len] */
} LlmCalib;
/* n windows of seq_len tokens with seeded random starts in tokens[lo, hi); the first token
 * of each window is replaced by BOS when bos >= 0 (the model's start-of-text state). */
int  llm_calib_sample(const int32_t *tokens, int64_t lo, int64_t hi, int n, int seq_len, int32_t bos, uint64_t seed,
                      LlmCalib *c, QErr *err);
void llm_calib_free(LlmCalib *c);

/* ------------------------------------------------------- weight quantization */
/* AWQ: activation-aware scales folded into the model first (llm_scale_model), then RTN with
 * AWQ's clipping search, or the whole GPTQ pipeline. */
typedef enum LlmQMethod { LLM_Q_RTN = 0, LLM_Q_GPTQ = 1, LLM_Q_AWQ = 2, LLM_Q_AWQ_GPTQ = 3 } LlmQMethod;
const char *llm_qmethod_name(LlmQMethod m);  /* "rtn", "gptq", "awq", "awq+gptq" */
static inline int llm_qmethod_gptq(LlmQMethod m) { return m == LLM_Q_GPTQ || m == LLM_Q_AWQ_GPTQ; }

typedef struct LlmWQuant {
    LlmQMethod method;
    int bits;
    int64_t group_size;  /* 0: per output channel */
    int symmetric;
    int act_order;       /* GPTQ */
    double damp;         /* GPTQ dampening (fraction of mean diagonal) */
    int mse_clip;        /* GPTQ: fit each group's range by MSE search instead of min-max */
    int refit;           /* GPTQ: refit each layer's fp32 weights to the quantized model's inputs first */
    double refit_ridge;  /* its ridge toward the original weights (fraction of the mean input power) */
    int tune_epochs;     /* GPTQ < 8 bits: epochs of block-wise tuning of scales and norms (0: none) */
    int e2e_epochs;      /* GPTQ < 8 bits: epochs of end-to-end tuning against the fp32 model (0: none) */
    int head_bits;       /* an untied classifier: 2..8 bits in groups of 32 (8: Q8_0's -127..127 grid), 0: fp32 */
    int64_t emb_group;   /* the token embedding's groups (0: per row, as before; 32: Q4_0 / Q8_0 blocks) */
} LlmWQuant;

typedef struct LlmQLinear {
    char name[32];       /* "blk.<l>.<linear>" */
    QParams p;
    int8_t *codes;       /* [out, in] */
    float *bias;         /* not owned (points into the model) */
} LlmQLinear;

typedef struct LlmQuantized {
    LlmWQuant scheme;
    int n;                       /* quantized linears */
    LlmQLinear *lin;             /* [n] */
    QParams emb_p;               /* token embedding, per row */
    int8_t *emb_codes;           /* [V, D] or NULL when kept in fp32 */
    int emb_bits;
    QParams head_p;              /* an untied classifier, groups of 32 (scheme.head_bits) */
    int8_t *head_codes;          /* [V, D] or NULL: tied (stored once, as the embedding) or fp32 */
    double *block_err;           /* [n_layers] ||y_q - y|| / ||y|| after each block (calibration data) */
    double *tune_loss;           /* [n_layers][2] block tuning's relative loss before / after (-1: not run) */
    double e2e_kl[2];            /* end-to-end tuning: mean KL per token before / after (-1: not run) */
    double seconds;
    struct LlmScaleReport *awq;  /* AWQ methods: the scales' report (else NULL) */
} LlmQuantized;

/* What end-to-end tuning distills on: the calibration windows, then windows sampled from the
 * fp32 model (distill.c), and that fp32 model as the teacher.  Built once, shared by every
 * variant. */
typedef struct LlmDistill {
    LlmCalib win;        /* [n_real + generated] windows */
    int n_real;          /* the first n_real are the calibration windows: the KL reported, and the
                            keep-or-discard decision, are measured on them */
    const LlmModel *teacher; /* the fp32 model (not owned; it must outlive the tuning), run on each
                                window as it comes up instead of storing n S V log-probabilities */
} LlmDistill;
/* Tokens a generated window takes from its calibration window before the model continues it. */
enum { LLM_GEN_PREFIX = 8 };
/* n windows of prompts->seq_len tokens sampled from m at temperature 1: window g starts with
 * the first `prefix` tokens of prompt window g mod prompts->n and goes on with m's samples,
 * never bos or eos (-1: none).  Deterministic in seed whatever the thread count. */
int  llm_calib_generate(const LlmModel *m, const LlmCalib *prompts, int n, int prefix, int32_t bos, int32_t eos,
                        uint64_t seed, LlmCalib *out, QErr *err);
/* calib, plus n_gen generated windows (LLM_GEN_PREFIX tokens of prompt each); teacher m. */
int  llm_distill_build(const LlmModel *m, const LlmCalib *calib, int n_gen, int32_t bos, int32_t eos, uint64_t seed,
                       LlmDistill *d, QErr *err);
void llm_distill_free(LlmDistill *d);

/* Quantizes m's weights in place (they then hold the dequantized values) and fills q.
 * dist: end-to-end tuning's data, required by GPTQ below 8 bits with e2e_epochs > 0 (else
 * unused, may be NULL).  emb_bits: 8 (default) or 0 to keep the embedding/head in fp32. */
int  llm_quantize_model(LlmModel *m, const LlmCalib *c, const LlmDistill *dist, const LlmWQuant *s, int emb_bits,
                        LlmQuantized *q, QErr *err);
void llm_quantized_free(LlmQuantized *q);
/* The pieces llm_quantize_model is made of, shared with the streamed quantizer (stream.c) so
 * both write the same codes: the token embedding at emb_bits, per row or in s->emb_group groups
 * (m->tok_emb then holds the dequantized values), and one block.  llm_quantize_block reads only m->layers[l];
 * Xq [n, S, D] the quantized model's inputs to the block (advanced through it), Xf the fp32
 * model's (advanced through the fp32 block; NULL allowed unless GPTQ refits or tunes, and then
 * *block_err = -1); n = 0: no calibration (RTN), and Xq NULL: the block's weights are then
 * left as they were instead of dequantized (nothing reads them again).  out[0..*n_out): the block's linears, their
 * bias pointers into m.  prog (or NULL): a step line per linear (block, linear, ETA). */
int  llm_quantize_embedding(LlmModel *m, int emb_bits, const LlmWQuant *s, LlmQuantized *q, QErr *err);
/* An untied classifier (s->head_bits > 0; nothing for a tied head, which is the embedding):
 * symmetric RTN in groups of LLM_QFILE_HEAD_GROUP (8 bits: Q8_0's -127..127); m->head then
 * holds the dequantized values. */
int  llm_quantize_head(LlmModel *m, const LlmWQuant *s, LlmQuantized *q, QErr *err);
/* RTN's grid for a [rows, cols] matrix: symmetric or affine, per row (group 0) or in groups
 * with the ragged tail merged, float16 scales, 8 bits -127..127 and narrower the full range
 * (Q4_0's); llm_emb_qparams the embedding's (groups: the same; per row: max|w| / qmax). */
int  llm_rtn_init(QParams *p, int bits, int symmetric, int64_t group, int64_t rows, int64_t cols, QErr *err);
int  llm_emb_qparams(QParams *p, int bits, int64_t group, int64_t rows, int64_t cols, QErr *err);
/* RTN of rows [r0, r0 + nr) of the matrix p describes: w holds those rows [nr, cols] (each
 * unit's range fitted to its min/max; dequantized in place when deq), codes the whole
 * matrix's [rows, cols].  Rows are independent: chunks give the same codes as one call. */
void llm_rtn_rows(QParams *p, float *w, int64_t r0, int64_t nr, int8_t *codes, int deq);
/* The same codes for one thread (no OpenMP inside, w not changed): codes [nr, cols] of rows
 * [r0, r0 + nr) only, and sc16 [nr * groups_per_row] their scales in float16 (as the file
 * stores them); isa: kern_isa_best()'s SIMD (the same results bit for bit).  -1 when a value
 * is not finite (the codes are then meaningless: the caller refuses or accepts the rows). */
int  llm_rtn_rows_local(QParams *p, const float *w, int64_t r0, int64_t nr, int8_t *codes, uint16_t *sc16, KernIsa isa);
/* 1 when llm_quantize_model chooses the embedding's codes with GPTQ on the head's input instead
 * (llm_quantize_embedding): a tied head, a GPTQ method, 8-bit weights.  The streamed quantizer
 * does not do this, so such plans run in memory. */
int  llm_tied_head_gptq(const LlmModel *m, const LlmWQuant *s, int emb_bits);
int  llm_quantize_block(LlmModel *m, int l, const LlmWQuant *s, float *Xq, float *Xf, int n, int S, LlmQLinear *out,
                        int *n_out, double *block_err, double tune_loss[2], QProgress *prog, QErr *err);
/* Bits per linear weight including scales (f16) and zero-points. */
double llm_quantized_bits_per_weight(const LlmQuantized *q);
/* Bits per parameter of a whole saved file: 8 x its bytes / every parameter of m (embeddings,
 * head, norms, biases, positions included). */
static inline double llm_file_bits_per_param(size_t file_bytes, int64_t n_params) {
    return n_params > 0 ? 8.0 * (double)file_bytes / (double)n_params : 0;
}

/* Block-wise reconstruction (tune.c): with the integer codes of block `layer`'s linears ql[]
 * fixed (q, k, v, o, [gate,] up, down, as GPTQ left them), Adam trains a multiplier exp(theta)
 * of every group scale and exp(phi) of every norm weight to minimise
 * ||block_q(Xq) - Yf||^2 over the n calibration windows Xq [n, S, D] (the quantized model's
 * inputs to the block), Yf the fp32 block's outputs on the fp32 model's inputs.  Scales end
 * rounded to float16; m's weights, norms and ql's scales are updated only if the loss drops.
 * loss0 / loss1: ||block_q(Xq) - Yf||^2 / ||Yf||^2 before and after (= before when not kept).
 * Llama and GPT-2 blocks (GPT-2: LayerNorm weights tuned, biases fixed). */
typedef struct LlmTuneOpts {
    int epochs, batch;   /* 2, 4 windows */
    float lr;            /* Adam on the log-multipliers, 5e-3, decayed to 0 along a half cosine
                            (q_cosine_lr): the last steps average out the minibatch noise instead
                            of ending on one batch's pull (W4 g32 stories260K: +3.70% -> +3.43%) */
    uint64_t seed;
} LlmTuneOpts;
void llm_tune_opts_default(LlmTuneOpts *o);
int  llm_block_tune(LlmModel *m, int layer, LlmQLinear *ql, const float *Xq, const float *Yf, int n, int S,
                    const LlmTuneOpts *o, double *loss0, double *loss1, QErr *err);

/* End-to-end tuning (tune.c): after every block is quantized, the same parameters of all blocks
 * (group-scale and norm multipliers, codes fixed) plus the final norm are trained together on
 * all of d's windows to minimise KL(fp32 model || quantized model) of the next-token
 * distributions.  Kept only if the KL on the calibration windows (d->n_real) drops;
 * loss0 / loss1 that mean KL per token before and after. */
int llm_e2e_tune(LlmModel *m, LlmQuantized *q, const LlmDistill *d, const LlmTuneOpts *o, double *loss0, double *loss1,
                 QErr *err);

/* Writes m (whose weights hold q's dequantized values) as a quant-llm safetensors file. */
int llm_save_quantized(const char *path, const LlmModel *m, const LlmQuantized *q, const char *source, QErr *err);
/* Writing a quant-llm file (qfile_write.c), shared by llm_save_quantized and the streamed
 * writer (stream.c) so both make the same bytes.  The tensor list follows from the config and
 * the scheme alone (shapes, scale counts), so a streamed writer can put the header first:
 * llm_qfile_layout.  Tensors are then given in that order to a sink that keeps them for
 * st_write (w NULL) or writes each at once (w: after st_write_header on it). */
typedef struct LlmQfileLayout {
    int n, cap;
    StWriteTensor *t;    /* names owned; data set by a keeping sink */
} LlmQfileLayout;
int  llm_qfile_layout(const LlmConfig *c, int pos_emb, int norm_bias, const LlmWQuant *s, int emb_bits, LlmQfileLayout *L,
                      QErr *err);
void llm_qfile_layout_free(LlmQfileLayout *L);
/* What the file states for the embedding's groups and an untied classifier's width. */
int  llm_qfile_emb_group(const LlmConfig *c, const LlmWQuant *s, int emb_bits);
int  llm_qfile_head_bits(const LlmConfig *c, const LlmWQuant *s);
typedef struct LlmQfileSink {
    LlmQfileLayout *L;
    int next;            /* the entry the next tensor must be */
    const char *path;    /* for messages */
    QWriter *w;          /* NULL: keep (data pointers into L) */
    void **owned;        /* kept buffers made here (packed codes, scales) */
    int nown, cap;
} LlmQfileSink;
/* Checks that `name` of nbytes is the next entry; returns its index (the caller writes the
 * bytes itself) or -1. */
int  llm_qfile_claim(LlmQfileSink *k, const char *name, size_t nbytes, QErr *err);
int  llm_qfile_put_f32(LlmQfileSink *k, const char *name, const float *x, int64_t n, QErr *err);
/* "<base>.qweight / .scale [/ .zero]" from codes [rows, cols] and p. */
int  llm_qfile_put_quant(LlmQfileSink *k, const char *base, const QParams *p, const int8_t *codes, QErr *err);
int  llm_qfile_sink_done(const LlmQfileSink *k, QErr *err);   /* every entry given */
void llm_qfile_sink_free(LlmQfileSink *k);
/* The file's __metadata__ (scheme and architecture): fills v / keys / vals, returns the count. */
enum { LLM_QFILE_META_MAX = 26 };
int llm_qfile_meta(const LlmConfig *c, const LlmWQuant *scheme, int emb_bits, const char *source,
                   char v[LLM_QFILE_META_MAX][64], const char *keys[LLM_QFILE_META_MAX], const char *vals[LLM_QFILE_META_MAX]);

/* ------------------------------------------------------------ activations */
typedef enum LlmActMode { LLM_ACT_NONE = 0, LLM_ACT_DYNAMIC = 1, LLM_ACT_STATIC = 2 } LlmActMode;

/* Per-site statistics from calibration: used for static ranges, outlier channels, reports. */
typedef struct LlmSiteStats {
    int in;
    float lo, hi;          /* min / max over everything */
    float *absmax;         /* [in] per input channel */
} LlmSiteStats;
typedef struct LlmActStats {
    int n_layers;
    LlmSiteStats *s;       /* [n_layers * LLM_N_SITES] */
} LlmActStats;
int  llm_act_stats_collect(const LlmModel *m, const LlmCalib *c, LlmActStats *st, QErr *err);
void llm_act_stats_free(LlmActStats *st);
/* Static per-tensor ranges chosen on each site's output error instead of min-max (actrange.c):
 * block by block, every site's inputs over the calibration windows (at most max_rows rows,
 * whole windows; 0: all) in m as it is (fp32, or with SmoothQuant folded), the range by
 * qact_range_search (nratio ratios, bits-bit grid) against the site's fp32 weights; st's lo / hi
 * replaced (its channel maxima kept); ratio (optional) [n_layers * LLM_N_SITES] gets
 * max(hi / hi0, lo / lo0), the share of min-max kept. */
enum { LLM_ACT_RANGE_RATIOS = 31 }; /* min-max down to a quarter of it in steps of 0.025 */
int  llm_act_ranges_search(const LlmModel *m, const LlmCalib *c, int bits, int nratio, int64_t max_rows, LlmActStats *st,
                           float *ratio, QErr *err);
/* Block `layer` run on every window of X [nw, S, D] in place, windows spread over threads (each
 * writes its own rows: the result does not depend on the thread count); cap (or NULL): each
 * site's inputs stored in cap[site] [nw * S, in] (smooth.c). */
void llm_block_windows(const LlmModel *m, int layer, float *X, int nw, int S, float *const cap[LLM_N_SITES]);

typedef struct LlmActQuant {
    LlmActMode mode;
    int bits;                    /* 8 */
    const LlmActStats *stats;    /* static ranges and outlier channels */
    float outlier_threshold;     /* > 0: LLM.int8() decomposition */
} LlmActQuant;
/* The hook to pass to llm_forward / llm_perplexity (ctx = LlmActQuant*); thread-safe. */
void llm_act_quant_hook(void *ctx, int layer, LlmSite site, float *X, int T, int in);
/* With decomposition: re-quantize the weights of every linear to 8 bits per channel over the
 * non-outlier input columns only, restoring the outlier columns to their fp32 values. */
void llm_int8_decompose_weights(LlmModel *m, const float *const *fp_weights, const LlmActStats *st, float threshold);

/* ------------------------------------------------ SmoothQuant, AWQ, outliers (smooth.c) */
/* Whether a site's input can absorb a per-channel scale exactly (all but GPT-2's ffn-down). */
int  llm_site_foldable(const LlmConfig *c, LlmSite s);
/* Grouped-query attention: fills tie [H*hs] for the attn-out site (channels sharing a v row)
 * and returns 1; 0 when the site needs no tie. */
int  llm_site_tie(const LlmConfig *c, LlmSite s, int *tie);
/* The site's input becomes X / s and its linears' columns W_j s_j, the fp32 function unchanged
 * (see smooth.c for where each site's scale goes).  -1 + err: an unfoldable site, a scale that
 * is not finite and > 0, or attn-out scales unequal within a GQA group. */
int  llm_smooth_fold(LlmModel *m, int layer, LlmSite site, const float *s, QErr *err);
/* The outlier fixture: `channels` seeded channels (the same in every block; chosen [channels]
 * gets them) of every attn and ffn norm weight (and bias) multiplied by factor and the
 * matching columns of q, k, v, gate, up divided by it — the same function in fp32, with the
 * massive activation channels LLM.int8() describes. */
int  llm_inject_outliers(LlmModel *m, int channels, float factor, uint64_t seed, int *chosen, QErr *err);

enum { LLM_SCALE_CH_MAX = 256 };
typedef struct LlmScaleSite {
    int folded;                  /* 0: not foldable (GPT-2 ffn-down), left alone */
    float v;                     /* SmoothQuant alpha / AWQ power chosen (-1: none, s = 1: no grid point beat it) */
    float max_before, med_before;  /* over input channels of the channel max |x|: max, median */
    float max_after, med_after;    /* the same after the scales */
    double err_none, err_best;   /* the site's relative output error (smooth.h) with s = 1 / chosen */
    float clip_mean;             /* AWQ: mean clipping ratio of the site's groups (1: none) */
    float aclip;                 /* SmoothQuant per tensor: the static range's ratio to min-max (1: none) */
    float alo, ahi;              /* ... and that range of the (scaled) input, from the search's rows */
    /* each channel's max|x| on the search's rows before and after the scales (the reports'
     * outlier plot), max-pooled to n_ch values of ch_pool channels each, as LlmPtqOutlier */
    int n_ch, ch_pool;
    float ch_before[LLM_SCALE_CH_MAX], ch_after[LLM_SCALE_CH_MAX];
} LlmScaleSite;
typedef struct LlmScaleReport {
    int n_layers;
    LlmScaleSite *s;             /* [n_layers * LLM_N_SITES] */
} LlmScaleReport;
typedef struct LlmScaleOpts {
    int awq;                     /* 0: SmoothQuant (alpha, rows' output error), 1: AWQ (power, H) */
    QSiteTarget t;               /* the grids the error is measured under */
    int grid;                    /* alpha / power grid points on [0, 1] (21) */
    int clip_ratios;             /* AWQ: clipping ratios searched on [0.5, 1] (20; 0: no clipping) */
    int64_t max_rows;            /* calibration rows used (whole windows; 32768) */
} LlmScaleOpts;
void llm_scale_opts_default(LlmScaleOpts *o);
/* Block by block on the calibration windows (the model's own activations, earlier blocks
 * already scaled): every site's scale searched and folded, then (AWQ) every linear's clipping.
 * rep is allocated (llm_scale_report_free). */
int  llm_scale_model(LlmModel *m, const LlmCalib *c, const LlmScaleOpts *o, LlmScaleReport *rep, QErr *err);
void llm_scale_report_free(LlmScaleReport *r);

#endif
