/* nn_experiment.h — the whole ptq-nn job as a library call: train (or load) the fp32 model,
 * quantize it every requested way, measure accuracy, size and speed, save the models.
 * The CLI only parses flags into NnPtqOpts and prints the rows. */
#ifndef QUANT_NN_EXPERIMENT_H
#define QUANT_NN_EXPERIMENT_H

#include "quant/nn_ptq.h"

typedef struct NnPtqOpts {
    const char *data_dir;       /* Fashion-MNIST directory */
    const char *from;           /* load this fp32 .qnn instead of training (NULL: train) */
    int hidden[NN_MAX_LAYERS];  /* hidden widths */
    int n_hidden;
    NnTrainOpts train;
    int64_t calib_samples;      /* training images watched by the activation observer */
    int64_t train_samples;      /* > 0: train on the first this many training images only */
    int bits[8];                /* weight-only bit widths */
    int n_bits;
    QObserverKind observer;
    int64_t group_size;         /* > 0: also per-group weight-only rows */
    const char *save_dir;       /* NULL: do not save */
    int threads;
    int bench;                  /* measure latency / throughput */
} NnPtqOpts;
void nn_ptq_opts_default(NnPtqOpts *o);

typedef struct NnPtqRow {
    char method[32];        /* fp32 | weight-only | static (fake-quant) | static (integer) */
    int wbits, abits;       /* 32 = float */
    char granularity[24];
    char observer[16];
    double acc;             /* test accuracy, fraction */
    size_t bytes;           /* model file size */
    double lat_b1_ms;       /* batch-1 latency */
    double thr_b256;        /* batch-256 images per second */
    char file[64];          /* saved file name, "" if not saved */
} NnPtqRow;

/* One layer's weights before and after symmetric quantization at each weight-only width (the
 * report's histogram with the grid): fp32 counts over [lo, hi], and the count of weights on
 * each level scale * q, q = qmin..qmax.  Per tensor (the MLP's rows) the whole layer; per
 * channel (the CNN's rows: one grid per output channel) the weights of one output channel,
 * so that the levels drawn are the grid those weights really sit on. */
enum { NN_HIST_BINS = 96 };
typedef struct NnWeightHist {
    int layer, in, out;         /* which layer, its shape (0: not recorded) */
    int per_channel, channel;   /* per_channel: counts are of output channel `channel` only */
    double lo, hi;
    int64_t counts[NN_HIST_BINS];
    int n_q;
    struct {
        int bits, qmin, qmax;
        double scale;
        int64_t counts[256];    /* [qmax - qmin + 1] */
    } q[8];
} NnWeightHist;

typedef struct NnPtqReport {
    int n_rows;
    NnPtqRow rows[64];
    int64_t n_weights;      /* weights of the linear / conv layers (bits per weight = 8 bytes / n_weights) */
    NnWeightHist whist;
    double train_seconds, seconds_per_epoch, fp32_train_loss;
    double agreement;       /* integer vs fake-quant predictions agreeing, fraction */
    int64_t n_test;
    char isa[16];
} NnPtqReport;

int nn_ptq_run(const NnPtqOpts *o, NnPtqReport *r, QErr *err);

/* For the jobs (MLP and CNN): appends a row with its method (printf format), bit widths,
 * granularity and observer set and everything else zero; and records st's training figures. */
NnPtqRow *nn_ptq_report_add(NnPtqReport *r, int wbits, int abits, const char *granularity, const char *observer,
                            const char *method_fmt, ...) __attribute__((format(printf, 6, 7)));
void nn_ptq_report_training(NnPtqReport *r, const NnTrainStats *st, int epochs);

#endif
