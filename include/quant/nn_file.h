/* nn_file.h — .qnn files: the fp32 MLP, weight-only quantized MLPs, the integer W8A8 MLP, and
 * the CNN in fp32 and as an integer CNN, in one small versioned container
 * (docs/formats.md#qnn). */
#ifndef QUANT_NN_FILE_H
#define QUANT_NN_FILE_H

#include "quant/nn_cnn.h"
#include "quant/nn_model.h"
#include "quant/nn_ptq.h"

typedef enum NnFileKind {
    NN_FILE_FP32 = 0,
    NN_FILE_WEIGHT_ONLY = 1,
    NN_FILE_INT8 = 2,
    NN_FILE_CNN_FP32 = 3,
    NN_FILE_CNN_INT8 = 4,   /* weight codes packed at the file's weight bits (2..8) */
} NnFileKind;
const char *nn_file_kind_name(NnFileKind k);   /* "an fp32 MLP", "an integer CNN", ... */

/* Writers: atomic (temporary file + rename).  *bytes (may be NULL) receives the file size. */
int nn_save_fp32(const char *path, const NnModel *m, size_t *bytes, QErr *err);
int nn_save_weight_only(const char *path, const NnQuantWeights *q, size_t *bytes, QErr *err);
int nn_save_int8(const char *path, const NnQModel *q, size_t *bytes, QErr *err);
int nn_save_cnn_fp32(const char *path, const NnCnn *m, size_t *bytes, QErr *err);
int nn_save_cnn_int8(const char *path, const NnCnnQ *q, size_t *bytes, QErr *err);
/* Size the file would have, without writing it. */
size_t nn_file_size_weight_only(const NnQuantWeights *q);
size_t nn_file_size_int8(const NnQModel *q);
size_t nn_file_size_fp32(const NnModel *m);
size_t nn_file_size_cnn_fp32(const NnCnn *m);
size_t nn_file_size_cnn_int8(const NnCnnQ *q);

/* A loaded file: kind tells which member is filled.  Weight-only files load as an fp32
 * model with the dequantized weights (bit-identical to what was evaluated before saving);
 * scheme describes them. */
typedef struct NnLoaded {
    NnFileKind kind;
    NnModel model;           /* FP32, WEIGHT_ONLY */
    NnWeightQuant scheme;    /* WEIGHT_ONLY */
    NnQModel qmodel;         /* INT8 (packed for the best ISA) */
    NnCnn cnn;               /* CNN_FP32 */
    NnCnnQ cnnq;             /* CNN_INT8 (packed for the best ISA) */
} NnLoaded;
/* Validates magic, version, sizes, every offset against the file length, and a CRC32. */
int  nn_load(const char *path, NnLoaded *out, QErr *err);
void nn_loaded_free(NnLoaded *l);

/* The fp32 model a job starts from: loaded from an fp32 .qnn file (from != NULL), or a fresh
 * MLP with the given hidden widths trained on train with to (st receives the statistics). */
int nn_model_prepare(NnModel *m, const char *from, const NnDataset *train, const int *hidden, int n_hidden,
                     const NnTrainOpts *to, NnTrainStats *st, QErr *err);

#endif
