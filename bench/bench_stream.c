/* bench_stream.c — the streamed quantizer alone (llm_stream.h), for bench/llm_stream.sh:
 * quantize a model into a quant-llm file, no evaluation, as llama-quantize does.
 *
 *   bench_stream MODEL OUT.safetensors [rtn|gptq] [bits] [group] [calib_windows seq_len TEXT TOKENIZER]
 *
 * GPTQ's calibration: windows at seeded offsets of TEXT tokenized by TOKENIZER (refit off,
 * act-order on, as ptq-llm's defaults otherwise).  Prints seconds, bits/weight, bytes, peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/llm_open.h"
#include "quant/llm_source.h"
#include "quant/llm_ptq_run.h"
#include "quant/llm_stream.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_stream MODEL OUT [rtn|gptq] [bits] [group] [windows seq TEXT TOKENIZER]\n");
        return 2;
    }
    QErr err = {0};
    LlmWQuant s = {LLM_Q_RTN, 4, 32, 1, 1, 0.01, 0, 0, 0.001, 0, 0, 8, 0};
    if (argc > 3 && strcmp(argv[3], "gptq") == 0) s.method = LLM_Q_GPTQ;
    if (argc > 4) s.bits = atoi(argv[4]);
    if (argc > 5) s.group_size = atoi(argv[5]);
    LlmCalib c = {0};
    if (s.method == LLM_Q_GPTQ) {
        if (argc < 10) {
            fprintf(stderr, "gptq needs: windows seq TEXT TOKENIZER\n");
            return 2;
        }
        int n = atoi(argv[6]), S = atoi(argv[7]);
        LlmSource *src;
        LlmModel m;
        Tokenizer *tok;
        uint8_t *text;
        size_t len;
        int32_t *ids;
        int64_t nid;
        if (llm_source_open(&src, &m, argv[1], &err) || llm_open_tokenizer(argv[1], argv[9], &m, &tok, &err) ||
            qfile_read_all(argv[8], &text, &len, &err) ||
            tokenizer_encode(tok, (const char *)text, len, tok->add_bos, &ids, &nid, &err) ||
            llm_calib_sample(ids, 0, nid, n, S, tok->bos_id, 0, &c, &err)) {
            fprintf(stderr, "bench_stream: %s\n", err.msg);
            return 1;
        }
        free(ids);
        free(text);
        tokenizer_free(tok);
        llm_source_close(src, &m);
    }
    LlmStreamResult r;
    double t0 = qtime_now();
    /* ptq-llm's defaults for the embedding and the head (llm_ptq_emb_scheme): a tied head is the
     * 8-bit per-row embedding; an untied one 8-bit groups of 32 (Q8_0), its embedding at the
     * weights' width (at least 4) in groups of 32 (Q4_0 at 4 bits, as llama-quantize makes) */
    LlmPtqOpts po;
    llm_ptq_opts_default(&po);
    LlmSource *src0;
    LlmModel m0;
    if (llm_source_open_ex(&src0, &m0, argv[1], 1, &err)) { /* lazy: the config only, nothing widened */
        fprintf(stderr, "bench_stream: %s\n", err.msg);
        return 1;
    }
    const int emb_bits = llm_ptq_emb_scheme(&po, &m0.c, s.bits, &s);
    llm_source_close(src0, &m0);
    if (llm_quantize_stream(argv[1], c.n ? &c : NULL, &s, emb_bits, argv[2], "bench", &r, &err)) {
        fprintf(stderr, "bench_stream: %s\n", err.msg);
        return 1;
    }
    printf("quantized %s -> %s: %s w%d g%lld, %.2f s, %.3f bits/linear weight, %lld bytes, peak RSS %.2f GiB\n", argv[1], argv[2],
           llm_qmethod_name(s.method), s.bits, (long long)s.group_size, qtime_now() - t0, r.bpw, (long long)r.bytes,
           qpeak_rss_bytes() / 1073741824.0);
    llm_stream_result_free(&r);
    llm_calib_free(&c);
    return 0;
}
