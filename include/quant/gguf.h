/* gguf.h — GGUF v3 files (llama.cpp / ggml): a checked reader and a writer, independent of
 * what the tensors mean (src/llm/io/gguf_read.c, gguf_write.c).  The mapping to quant's
 * models is in llm_gguf.h.
 *
 * Layout (all little-endian): "GGUF", u32 version, u64 tensor count, u64 key/value count;
 * the key/values (string key, u32 value type, value; arrays: u32 element type, u64 count,
 * elements; strings: u64 length + bytes, no NUL); the tensor infos (string name, u32 n_dims,
 * u64 ne[n_dims] innermost first, u32 ggml type, u64 offset into the data section); padding
 * to the alignment (general.alignment, default 32); the data section, every tensor's offset a
 * multiple of the alignment.  A weight W [out, in] is stored with ne = {in, out}. */
#ifndef QUANT_GGUF_H
#define QUANT_GGUF_H

#include <stdint.h>

#include "quant/core.h"

typedef enum GgufValueType {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT = 13
} GgufValueType;

/* The ggml tensor types quant reads or writes (others are rejected by name/number). */
typedef enum GgmlType {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q2_K = 10, /* the K types are read, never written: llama-quantize's Q*_K_* files, */
    GGML_TYPE_Q3_K = 11, /* and the Q6_K classifier of its Q4_0 files */
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_BF16 = 30
} GgmlType;
/* n weights (a multiple of 256) of a Q2_K .. Q6_K tensor at p (any alignment) into dst
 * (qblock_k_dequant); -1 for any other type.  Every byte pattern is a number (finite unless an f16
 * scale is not): the caller checks dst. */
int ggml_dequant_k(uint32_t type, const uint8_t *p, int64_t n, float *dst);

#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
enum { GGUF_MAX_DIMS = 4 };

/* A readable ggml type: name, elements per block, bytes per block; NULL name if unknown. */
const char *ggml_type_name(uint32_t type);
int ggml_type_block(uint32_t type, int64_t *block_elems, int64_t *block_bytes);

typedef struct GgufKV {
    char *key;               /* NUL-terminated copy */
    uint32_t type;           /* GgufValueType */
    uint32_t arr_type;       /* element type for arrays */
    uint64_t n;              /* array element count (1 for scalars) */
    const uint8_t *data;     /* the value (scalars, numeric arrays) or first string (in the map) */
    const uint8_t **str;     /* string arrays: [n] pointers to each u64 length + bytes; else NULL */
} GgufKV;

typedef struct GgufTensor {
    char *name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];  /* innermost first; unused dims = 1 */
    uint32_t type;              /* GgmlType */
    uint64_t offset;            /* within the data section */
    int64_t nelem;
    uint64_t nbytes;
    const uint8_t *data;        /* in the map */
} GgufTensor;

typedef struct Gguf {
    QMap map;
    char path[1024];
    uint32_t version, alignment;
    int64_t n_kv, n_tensors;
    GgufKV *kv;
    GgufTensor *t;
    uint64_t data_off;          /* start of the data section */
} Gguf;

/* Opens and validates everything: magic, version (2 or 3), counts against the file length,
 * every string length, every value type, array sizes, tensor dims and types, every tensor's
 * byte range inside the file and aligned.  One error line naming file, field and what was
 * expected. */
int  gguf_open(Gguf *g, const char *path, QErr *err);
void gguf_close(Gguf *g);
/* 1 when the file starts with the GGUF magic. */
int  gguf_detect(const char *path);

const GgufKV *gguf_kv(const Gguf *g, const char *key);
const GgufTensor *gguf_tensor(const Gguf *g, const char *name);
/* Scalars: any integer type that holds the value (get_u32), f32/f64 (get_f32), strings
 * (pointer into the map and length), bool.  -1 + err when missing or of another type. */
int gguf_get_u32(const Gguf *g, const char *key, uint32_t *v, QErr *err);
int gguf_get_f32(const Gguf *g, const char *key, float *v, QErr *err);
int gguf_get_str(const Gguf *g, const char *key, const char **s, uint64_t *len, QErr *err);
/* Element i of a string array. */
void gguf_arr_str(const GgufKV *kv, uint64_t i, const char **s, uint64_t *len);

/* ------------------------------------------------------------------ writer */
typedef struct GgufWTensor {
    char *name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint32_t type;
    const void *data;
    uint64_t nbytes;
    int owned;
} GgufWTensor;

typedef struct GgufWriter {
    uint8_t *kv;                /* serialized key/values */
    size_t kv_len, kv_cap;
    int64_t n_kv;
    GgufWTensor *t;
    int n_t, cap_t;
    /* streaming (gguf_w_begin .. gguf_w_end): the open file, the next tensor to write, bytes so far */
    QWriter f;
    int open, next;
    uint64_t written;
} GgufWriter;

void gguf_w_init(GgufWriter *w);
void gguf_w_free(GgufWriter *w);
void gguf_w_u32(GgufWriter *w, const char *key, uint32_t v);
void gguf_w_i32(GgufWriter *w, const char *key, int32_t v);
void gguf_w_f32(GgufWriter *w, const char *key, float v);
void gguf_w_bool(GgufWriter *w, const char *key, int v);
void gguf_w_str(GgufWriter *w, const char *key, const char *s);
/* string arrays (lens may be NULL: strlen), f32 and i32 arrays */
void gguf_w_arr_str(GgufWriter *w, const char *key, const char *const *s, const int *lens, int64_t n);
void gguf_w_arr_f32(GgufWriter *w, const char *key, const float *v, int64_t n);
void gguf_w_arr_i32(GgufWriter *w, const char *key, const int32_t *v, int64_t n);
/* A tensor of shape ne[0..n_dims) (innermost first); nbytes must match the type's size;
 * owned data is freed by gguf_w_free. */
void gguf_w_tensor(GgufWriter *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                   const void *data, uint64_t nbytes, int owned);
/* Writes the file atomically (QWriter); returns the size through *bytes when not NULL. */
int gguf_w_write(GgufWriter *w, const char *path, uint64_t *bytes, QErr *err);
/* The same in steps, so that tensors need not all be in memory at once (data may be NULL in
 * gguf_w_tensor then): begin writes the header and tensor infos to a temporary file; put
 * writes the next tensor's nbytes bytes (declaration order, whole tensors); end renames the
 * file into place once every tensor is written; abort (also called by gguf_w_free) removes it. */
int  gguf_w_begin(GgufWriter *w, const char *path, QErr *err);
int  gguf_w_put(GgufWriter *w, const void *data, uint64_t nbytes, QErr *err);
int  gguf_w_end(GgufWriter *w, uint64_t *bytes, QErr *err);
void gguf_w_abort(GgufWriter *w);

#endif
