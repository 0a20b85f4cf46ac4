/* stream_rtn.h — RTN of a whole model straight from its file's rows (stream_rtn.c), the
 * streamed quantizer's path for round-to-nearest (stream.c). */
#ifndef QUANT_STREAM_RTN_H
#define QUANT_STREAM_RTN_H

#include "quant/llm_ptq.h"
#include "quant/llm_qfile.h"
#include "quant/llm_source.h"

/* 1 when the variant and the source allow it: RTN, a Llama read lazily from a Hugging Face
 * directory whose every tensor llm_source_view gives, the embedding quantized (emb_bits > 0)
 * and the classifier tied or quantized (no fp32 matrix in the output). */
int llm_rtn_stream_ok(LlmSource *src, const LlmModel *m, const LlmWQuant *s, int emb_bits);

/* Everything after the header: the embedding's and classifier's codes, the final norm, then
 * every block's norms and linears, handed to o in the layout's order (the bytes stream.c's
 * block path writes).  *bits / *weights: the linears' bits per weight, summed over weights. */
int llm_rtn_stream_write(LlmSource *src, const LlmModel *m, const LlmWQuant *s, int emb_bits, LlmQfileSink *o,
                         QProgress *prog, double *bits, double *weights, QErr *err);

#endif
