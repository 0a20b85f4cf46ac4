/* safetensors.h — the Hugging Face safetensors container: reader (memory-mapped, one file or a
 * sharded set named by model.safetensors.index.json) and writer.
 *
 * File layout: u64 LE header length N; N bytes of JSON
 *   {"NAME": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "string value", ...}}
 * then the data area; offsets are relative to the data area (byte 8 + N).
 * The reader checks: N against the file size, every dtype known, begin <= end inside the data
 * area, end - begin == element size * prod(shape), and no two tensors overlapping. */
#ifndef QUANT_SAFETENSORS_H
#define QUANT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "quant/core.h"

typedef enum StDtype { ST_F32, ST_F16, ST_BF16, ST_I8, ST_U8, ST_I32, ST_I64 } StDtype;

#define ST_MAX_DIMS 8

typedef struct StTensor {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    size_t nbytes;
    const uint8_t *data;   /* inside the mapping of its shard */
    int shard;             /* index into Safetensors.shards */
} StTensor;

typedef struct StShard {
    char *path;
    QMap map;
} StShard;

typedef struct Safetensors {
    int nshards;
    StShard *shards;
    int ntensors;
    StTensor *tensors;     /* all shards together, names unique */
    const StTensor **by_name;   /* the tensors sorted by name: st_find is a binary search */
    int nmeta;
    char **meta_keys, **meta_vals;   /* __metadata__ of the first shard */
} Safetensors;

/* One .safetensors file. */
int  st_open(Safetensors *st, const char *path, QErr *err);
/* A model directory: DIR/model.safetensors.index.json (sharded) or DIR/model.safetensors. */
int  st_open_dir(Safetensors *st, const char *dir, QErr *err);
void st_close(Safetensors *st);

const StTensor *st_find(const Safetensors *st, const char *name);
const char     *st_meta(const Safetensors *st, const char *key);   /* NULL when absent */
const char     *st_dtype_name(StDtype d);
size_t          st_dtype_size(StDtype d);

/* Widens an F32/F16/BF16 tensor into out[numel]; other dtypes are an error. */
int st_to_f32(const StTensor *t, float *out, QErr *err);

/* Writer: tensors in the given order, an optional __metadata__ of string pairs, the header
 * padded with spaces to a multiple of 8 bytes; written atomically (QWriter). */
typedef struct StWriteTensor {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;      /* element size * prod(shape) bytes */
} StWriteTensor;
int st_write(const char *path, const StWriteTensor *tensors, int n, const char *const *meta_keys,
             const char *const *meta_vals, int nmeta, QErr *err);
/* The same file written piece by piece (a streamed writer): the header of tensors[] (their
 * data pointers unused) on an open QWriter; the caller then writes each tensor's
 * st_write_nbytes() bytes in the same order and commits.  Byte for byte what st_write makes. */
int    st_write_header(QWriter *w, const StWriteTensor *tensors, int n, const char *const *meta_keys,
                       const char *const *meta_vals, int nmeta, QErr *err);
size_t st_write_nbytes(const StWriteTensor *t);

#endif
