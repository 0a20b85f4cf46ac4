/* llm_bench.h — inference speed and memory of a loaded model (`quant bench`): prompt
 * processing and token-by-token decoding on seeded random tokens, the bytes a decode step
 * reads, and the resident memory the model needs. */
#ifndef QUANT_LLM_BENCH_H
#define QUANT_LLM_BENCH_H

#include "quant/llm.h"

typedef struct LlmBenchOpts {
    int prompt_tokens;   /* one forward over this many tokens */
    int gen_tokens;      /* then this many single-token steps (greedy) */
    int rounds;          /* timed rounds after one warm-up; medians are reported */
    uint64_t seed;
    /* The machine's read bandwidth now (bytes/s; 0 if it could not be measured), called just
     * before and just after each timed round's decode, so that each round is set against the
     * bandwidth of its own moment (a shared host's drifts by 1.5x within a minute); NULL: none. */
    double (*bandwidth)(void *ctx);
    void *bandwidth_ctx;
} LlmBenchOpts;

enum { LLM_BENCH_MAX_ROUNDS = 1000 };

typedef struct LlmBenchResult {
    double prompt_tps, decode_tps;       /* medians over rounds */
    double prompt_s, decode_s;           /* median seconds per round */
    double bytes_per_token;              /* weights + KV cache a decode step reads (mean over the run) */
    double weight_bytes;                 /* resident weights: packed linears + fp32 tensors */
    double packed_bytes;                 /* of which packed linears */
    double head_bytes;                   /* what one classifier product reads: fp32 [V, D] or its packed blocks */
    double kv_bytes, act_bytes;          /* KV cache and scratch the state allocates */
    /* with opts.bandwidth: per timed round, the decode's tokens/s, the bandwidth measured
     * before and after it, and decode / (mean of the two / bytes_per_token) */
    double *round_decode_tps, *round_bw_before, *round_bw_after, *round_fraction; /* [rounds], llm_bench_result_free */
    double bandwidth, fraction;          /* medians over the rounds of the mean bandwidth and of the fraction */
    int context;                         /* positions the KV cache holds (prompt + gen) */
    /* Where a decode token's time goes (seconds per token, medians over passes): each part
     * timed alone, back to back as a decode step runs it, weights streaming from memory.
     * split_lin[i]: the linears named split_names[i] over all layers (q, k, v, o, gate, up,
     * down); split_act: quantizing the sites' inputs to int8 blocks; split_head: final norm
     * + classifier; split_step: one whole decode step timed in the same passes (at the last
     * position of the cache); split_rest: split_step minus those parts (attention over the
     * KV cache, norms, rotary, residuals, embedding). */
    int split_n;
    const char *split_names[LLM_MAX_LINEARS];
    double split_lin[LLM_MAX_LINEARS], split_lin_bytes[LLM_MAX_LINEARS];
    double split_act, split_head, split_step, split_rest;
} LlmBenchResult;

/* Runs the benchmark; m->c.max_seq is lowered to prompt + gen (the cache the run needs). */
int llm_bench(LlmModel *m, const LlmBenchOpts *o, LlmBenchResult *r, QErr *err);
void llm_bench_result_free(LlmBenchResult *r);

#endif
