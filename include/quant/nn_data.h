/* nn_data.h — image classification datasets in IDX format (MNIST, Fashion-MNIST).
 * Files may be raw or gzip-compressed (zlib detects which). */
#ifndef QUANT_NN_DATA_H
#define QUANT_NN_DATA_H

#include <stdint.h>

#include "quant/core.h"

#define NN_FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct NnDataset {
    int64_t n;          /* number of examples */
    int rows, cols;     /* image size (28 x 28) */
    float *images;      /* [n, rows * cols] pixel / 255 in [0, 1] */
    uint8_t *labels;    /* [n] class 0..9 */
} NnDataset;

/* One pair of IDX files: images (magic 0x00000803, dims n, rows, cols) and labels
 * (magic 0x00000801, dim n).  Errors name the file: bad magic, truncated data, counts
 * that differ, labels >= 10, absurd dimensions. */
int  nn_dataset_load_idx(NnDataset *d, const char *images_path, const char *labels_path, QErr *err);
/* The train or test split from a directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. */
int  nn_dataset_load_split(NnDataset *d, const char *dir, int train, QErr *err);
void nn_dataset_free(NnDataset *d);

#endif
