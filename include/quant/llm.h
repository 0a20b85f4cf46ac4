/* llm.h — decoder-only transformers in fp32: configuration, weights, one forward pass driven
 * by the configuration (Llama: RMSNorm, RoPE, SwiGLU, grouped-query attention; GPT-2:
 * LayerNorm, learned positions, GELU, biases), KV cache, and the per-linear input hook that
 * calibration and activation quantization use.
 *
 * Shape legend: T = tokens in a call, D = dim, H = n_heads, Hkv = n_kv_heads, hs = D / H,
 * F = hidden_dim (FFN), V = vocab, S = max_seq.  Weights [out, in] row-major. */
#ifndef QUANT_LLM_H
#define QUANT_LLM_H

#include <stdint.h>

#include "quant/core.h"

typedef enum LlmArch { LLM_ARCH_LLAMA = 0, LLM_ARCH_GPT2 = 1 } LlmArch;

typedef struct LlmConfig {
    LlmArch arch;
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq;
    float norm_eps;        /* RMSNorm / LayerNorm epsilon */
    float rope_theta;      /* Llama */
    int rope_interleaved;  /* 1: pairs (2i, 2i+1) as llama2.c; 0: halves (i, i + hs/2) as HF */
    int shared_head;       /* classifier tied to the token embedding */
    int tie_given;         /* HF: config.json states tie_word_embeddings (else the arch's default) */
    int sliding_window;    /* Mistral: attention window (0 = none); longer contexts are refused */
} LlmConfig;

typedef struct LlmLayer {
    float *attn_norm, *attn_norm_b;  /* [D]; bias only for LayerNorm */
    float *wq, *wk, *wv, *wo;        /* [H*hs, D], [Hkv*hs, D], [Hkv*hs, D], [D, H*hs] */
    float *bq, *bk, *bv, *bo;        /* GPT-2 biases or NULL */
    float *ffn_norm, *ffn_norm_b;    /* [D] */
    float *w_gate;                   /* [F, D] Llama only */
    float *w_up, *b_up;              /* [F, D] */
    float *w_down, *b_down;          /* [D, F] */
    /* The packed kind of the same linears (a quantized file loaded to run): when set, the
     * float pointer above is NULL and the forward runs the group-quantized kernels. */
    const struct KernQMat *pq, *pk, *pv, *po, *p_gate, *p_up, *p_down;
} LlmLayer;

/* How packed linears run: the integer kernels (int8 activation blocks, int32 block sums), or
 * the reference (dequantize to fp32, then the fp32 product: today's numbers exactly). */
typedef enum LlmKernels { LLM_KERNELS_INT = 0, LLM_KERNELS_REF = 1 } LlmKernels;

typedef struct LlmModel {
    LlmConfig c;
    float *tok_emb;      /* [V, D] */
    float *pos_emb;      /* [S, D] GPT-2 only */
    LlmLayer *layers;    /* [n_layers] */
    float *final_norm, *final_norm_b;  /* [D] */
    float *head;         /* [V, D]; == tok_emb when shared; NULL when only p_head holds it */
    /* A quantized file's untied classifier and lookup-only embedding, packed (qfile_read.c):
     * then head / tok_emb are NULL (the classifier runs on the integer kernels, an embedding row
     * is dequantized on lookup); --kernels ref dequantizes the classifier into head_deq. */
    const struct KernQMat *p_head, *p_emb;
    float *head_deq;
    /* storage */
    QMap map;            /* llama2.c checkpoints: private (copy-on-write) map */
    float *owned;        /* weights owned by the model (widened / transposed) */
    void *packed;        /* packed linears: their KernQMat table and blocks (qfile_read.c) */
    int n_packed;        /* packed linears in the model */
    LlmKernels kernels;  /* set before llm_state_init */
    int isa;             /* KernIsa of the integer kernels (kern_isa_best() at load) */
    char name[256];
} LlmModel;

/* llama2.c legacy checkpoint (7 x int32 header, fp32 weights). */
int  llm_load_llama2c(LlmModel *m, const char *path, QErr *err);
/* Hugging Face: config.json (GPT2LMHeadModel, LlamaForCausalLM) -> cfg; unknown architecture,
 * unsupported options (rope_scaling, biases on Llama) or inconsistent dims are errors. */
int  llm_config_from_json(LlmConfig *cfg, const char *path, QErr *err);
/* Hugging Face directory: config.json + model.safetensors or model.safetensors.index.json
 * shards; F32/F16/BF16 widened into owned fp32, GPT-2 Conv1D weights transposed to [out, in];
 * every tensor checked against the shape the config implies (llm_hf.c). */
int  llm_load_hf(LlmModel *m, const char *dir, QErr *err);
/* Any supported path: a llama2.c .bin or (when present) other formats registered in
 * llm_load.c. */
int  llm_load(LlmModel *m, const char *path, QErr *err);
/* The same with a GGUF's quantized tensors widened to fp32 instead of packed, for the tools
 * that need the weights (the exporters, ptq-llm); a quant-llm file still loads packed. */
int  llm_load_fp32(LlmModel *m, const char *path, QErr *err);
void llm_free(LlmModel *m);
/* A linear of a model loaded from a file, whatever its kind: 1 when any linear is packed. */
static inline int llm_has_packed(const LlmModel *m) { return m->n_packed > 0; }
/* One line saying how the linears run and what stays fp32, e.g. "154 linears packed q4_0,
 * integer kernels (avx512vnni); attention, norms, KV cache, embeddings, classifier: fp32". */
void llm_kernels_describe(const LlmModel *m, char *buf, int size);
/* "int" | "ref" -> m->kernels (before llm_state_init); -1 + err otherwise. */
int  llm_kernels_set(LlmModel *m, const char *name, QErr *err);
int64_t llm_n_params(const LlmModel *m);
/* Loaders carve a model's fp32 tensors out of one 64-byte aligned buffer (m->owned): count
 * floats from *w, starting on 64 bytes, so that rows whose width is a multiple of 16 floats
 * (a classifier's) lie on cache lines for the kernels' loads.  The buffer needs
 * LLM_CARVE_PAD(layers) floats beyond the tensors' sum. */
enum { LLM_CARVE_PER_LAYER = 17, LLM_CARVE_GLOBAL = 5 }; /* most tensors a layer / the rest carve */
#define LLM_CARVE_PAD(layers) ((int64_t)16 * ((int64_t)(layers) * LLM_CARVE_PER_LAYER + LLM_CARVE_GLOBAL))
float *llm_carve(float **w, int64_t count);
/* Whether the model can attend over T positions: within max_seq (max_position_embeddings)
 * and, when a sliding window is set, within it (quant has no windowed attention). */
int  llm_check_context(const LlmConfig *c, int T, QErr *err);

/* ----------------------------------------------------------- linear layers */
/* Where a linear's input comes from: linears of one site share their input. */
typedef enum LlmSite {
    LLM_SITE_QKV = 0,   /* attention input (after the norm): q, k, v */
    LLM_SITE_O = 1,     /* attention output: o */
    LLM_SITE_UP = 2,    /* FFN input (after the norm): gate, up */
    LLM_SITE_DOWN = 3,  /* FFN hidden: down */
    LLM_N_SITES = 4
} LlmSite;

typedef struct LlmLinear {
    const char *name;   /* "q", "k", "v", "o", "gate", "up", "down" */
    LlmSite site;
    float *w;           /* [out, in] (writable); NULL for a packed linear */
    const struct KernQMat *packed;  /* the packed kind, or NULL */
    float *b;           /* [out] or NULL */
    int in, out;
} LlmLinear;
enum { LLM_MAX_LINEARS = 7 };
/* The linears of block `layer`, in execution order; returns their count. */
int llm_block_linears(LlmModel *m, int layer, LlmLinear out[LLM_MAX_LINEARS]);
/* The same list from a configuration alone (names and shapes: what a file of that model holds),
 * for readers and writers that have no weights in memory; returns the count. */
typedef struct LlmLinearShape {
    const char *name;
    int in, out;
} LlmLinearShape;
int llm_block_shapes(const LlmConfig *c, LlmLinearShape out[LLM_MAX_LINEARS]);

/* Called with the input X [T, in] of every site before its linears run; may modify X in
 * place (fake-quantize it) — that is how activation quantization and calibration capture
 * work. */
typedef void (*LlmHook)(void *ctx, int layer, LlmSite site, float *X, int T, int in);

/* ------------------------------------------------------------------ forward */
typedef struct LlmState {
    int max_T;            /* largest T per call */
    float *x, *xb, *q, *k, *v, *att_out, *h1, *h2;  /* scratch, [max_T, ...] */
    float *scores;        /* [H, max_T, S] attention weights */
    float *rope;          /* [S, hs/2, 2] cos, sin */
    float *kcache, *vcache;  /* [L, Hkv, S, hs] */
    float *logits;        /* [max_T, V] */
    struct KernQAct *xa;  /* packed linears, integer path: the site's input in int8 blocks */
    struct KernQAct *xh;  /* the same for the FFN hidden, made by the gated FFN's job (kern_qmat_swiglu) in a
                           * decode step: up to KERN_QACT_DOT_T tokens; NULL without a packed gate and up */
    float *wdeq;          /* packed linears, reference path: one dequantized linear [out, in] */
} LlmState;
void llm_state_init(LlmState *s, const LlmModel *m, int max_T);
void llm_state_free(LlmState *s);

/* x [T, D] = embeddings of tokens at positions pos0.. */
void llm_embed(const LlmModel *m, const int32_t *tokens, int T, int pos0, float *x);
/* One block on x [T, D] in place, positions pos0.., using/filling the KV cache. */
void llm_block_forward(const LlmModel *m, LlmState *s, int layer, float *x, int T, int pos0, LlmHook hook, void *ctx);
/* The inputs out [nw * S, width] of one linear site of block `layer` for nw calibration
 * windows of S tokens, each its own sequence at positions 0..S-1: from the block input x
 * [nw * S, D] for LLM_SITE_QKV (the attention norm) and LLM_SITE_O (attention of q, k, v), from
 * the residual stream after attention for LLM_SITE_UP (the FFN norm) and LLM_SITE_DOWN (the FFN
 * hidden, width hidden_dim): what llm_block_forward computes at that point, for calibration
 * that quantizes a site at a time.  The linears run as one product over all rows (the weights
 * packed once per block of rows, not per window), the attention window by window; fp32
 * weights only.  s: a state of this model (its rotary table); work: llm_site_in_work_floats. */
size_t llm_site_in_work_floats(const LlmConfig *c, int64_t rows);
void llm_block_site_in_windows(const LlmModel *m, const LlmState *s, int layer, LlmSite site, const float *x, int nw, int S,
                               float *work, float *out);
/* Final norm + classifier: logits [T, V] from x [T, D] (x is overwritten by the norm). */
void llm_head_forward(const LlmModel *m, float *x, int T, float *logits);
/* Whole model: logits [T, V] (= s->logits) for tokens at positions pos0..pos0+T-1. */
float *llm_forward(const LlmModel *m, LlmState *s, const int32_t *tokens, int T, int pos0, LlmHook hook, void *ctx);

#endif
