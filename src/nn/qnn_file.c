/* qnn_file.c — the .qnn container (nn_file.h; layout in docs/formats.md): MLPs (kinds 0-2) and
 * the CNN (kinds 3-4).
 *
 *   header  (64 bytes)  magic "QNN1", u32 version, u32 kind, u32 n_layers, u32 dims[9],
 *                       u32 bits, u32 symmetric, u32 granularity, u32 group_size, u32 n_tensors
 *   table   n_tensors x 48 bytes: char name[24], u32 dtype, u32 reserved, u64 offset, u64 nbytes
 *   data    tensors at 8-aligned offsets from the start of the data section
 *   trailer u32 CRC-32 (zlib) of every byte before it
 * All integers little-endian. */
#include "quant/nn_file.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "quant/checked.h"
#include "quant/pack.h"

enum { HEADER_BYTES = 64, ENTRY_BYTES = 48, NAME_BYTES = 24, VERSION = 1, MAX_TENSORS = 64 };
typedef enum { DT_F32 = 0, DT_I32 = 1, DT_I8 = 2, DT_PACKED = 3 } Dtype;
static const size_t dt_size[] = {4, 4, 1, 1};

typedef struct Entry {
    char name[NAME_BYTES];
    uint32_t dtype;
    const void *data;  /* writer */
    uint64_t offset, nbytes;
} Entry;

typedef struct Builder {
    uint32_t kind, n_layers, dims[9], bits, symmetric, gran, group;
    int n;
    Entry e[MAX_TENSORS];
} Builder;

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static void add(Builder *b, const char *name, int l, Dtype dt, const void *data, uint64_t nbytes) {
    Entry *e = &b->e[b->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, NAME_BYTES, "%s%d", name, l);
    e->dtype = dt;
    e->data = data;
    e->nbytes = nbytes;
}

static void builder_init(Builder *b, uint32_t kind, int n_layers, const int *dims) {
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->n_layers = (uint32_t)n_layers;
    for (int i = 0; i <= n_layers; i++) b->dims[i] = (uint32_t)dims[i];
}

/* Serialises to a malloc'ed buffer. */
static uint8_t *serialise(Builder *b, size_t *len) {
    uint64_t off = 0;
    for (int i = 0; i < b->n; i++) {
        b->e[i].offset = off;
        off += (b->e[i].nbytes + 7) & ~(uint64_t)7;
    }
    size_t head = HEADER_BYTES + (size_t)b->n * ENTRY_BYTES;
    size_t total = head + off + 4;
    uint8_t *buf = xcalloc(total, 1);
    memcpy(buf, "QNN1", 4);
    put_u32(buf + 4, VERSION);
    put_u32(buf + 8, b->kind);
    put_u32(buf + 12, b->n_layers);
    for (int i = 0; i < 9; i++) put_u32(buf + 16 + 4 * i, b->dims[i]);
    put_u32(buf + 52, b->bits);
    put_u32(buf + 56, b->symmetric | b->gran << 8);
    put_u32(buf + 60, (uint32_t)b->n | b->group << 8);
    for (int i = 0; i < b->n; i++) {
        uint8_t *p = buf + HEADER_BYTES + (size_t)i * ENTRY_BYTES;
        memcpy(p, b->e[i].name, NAME_BYTES);
        put_u32(p + 24, b->e[i].dtype);
        put_u64(p + 32, b->e[i].offset);
        put_u64(p + 40, b->e[i].nbytes);
        memcpy(buf + head + b->e[i].offset, b->e[i].data, b->e[i].nbytes);
    }
    put_u32(buf + total - 4, (uint32_t)crc32(0L, buf, (uInt)(total - 4)));
    *len = total;
    return buf;
}

static int write_builder(const char *path, Builder *b, size_t *bytes, QErr *err) {
    size_t len;
    uint8_t *buf = serialise(b, &len);
    QWriter w;
    int rc = qwriter_open(&w, path, err);
    if (rc == 0 && (rc = qwriter_write(&w, buf, len, err)) == 0) rc = qwriter_commit(&w, err);
    else if (rc == 0) qwriter_abort(&w);
    free(buf);
    if (rc == 0 && bytes) *bytes = len;
    return rc;
}

static size_t builder_size(Builder *b) {
    size_t len;
    uint8_t *buf = serialise(b, &len);
    free(buf);
    return len;
}

/* ------------------------------------------------------------------ fp32 */
static void build_fp32(Builder *b, const NnModel *m) {
    builder_init(b, NN_FILE_FP32, m->n_layers, m->dims);
    for (int l = 0; l < m->n_layers; l++) {
        add(b, "w", l, DT_F32, m->w[l], (uint64_t)m->dims[l + 1] * m->dims[l] * 4);
        add(b, "b", l, DT_F32, m->b[l], (uint64_t)m->dims[l + 1] * 4);
    }
}
int nn_save_fp32(const char *path, const NnModel *m, size_t *bytes, QErr *err) {
    Builder b;
    build_fp32(&b, m);
    return write_builder(path, &b, bytes, err);
}
size_t nn_file_size_fp32(const NnModel *m) {
    Builder b;
    build_fp32(&b, m);
    return builder_size(&b);
}

/* ----------------------------------------------------------- weight-only */
static void build_wo(Builder *b, const NnQuantWeights *q, uint8_t **packed) {
    builder_init(b, NN_FILE_WEIGHT_ONLY, q->n_layers, q->deq.dims);
    b->bits = (uint32_t)q->scheme.bits;
    b->symmetric = (uint32_t)q->scheme.symmetric;
    b->gran = (uint32_t)q->scheme.gran;
    b->group = (uint32_t)q->scheme.group_size;
    for (int l = 0; l < q->n_layers; l++) {
        const QParams *p = &q->p[l];
        int64_t n = p->rows * p->cols;
        packed[l] = xmalloc(qpack_bytes(p->bits, n));
        qpack(p->bits, q->codes[l], n, packed[l]);
        add(b, "q", l, DT_PACKED, packed[l], qpack_bytes(p->bits, n));
        add(b, "s", l, DT_F32, p->scale, (uint64_t)p->n * 4);
        if (!p->symmetric) add(b, "z", l, DT_I32, p->zero, (uint64_t)p->n * 4);
        add(b, "b", l, DT_F32, q->deq.b[l], (uint64_t)q->deq.dims[l + 1] * 4);
    }
}
int nn_save_weight_only(const char *path, const NnQuantWeights *q, size_t *bytes, QErr *err) {
    Builder b;
    uint8_t *packed[NN_MAX_LAYERS] = {0};
    build_wo(&b, q, packed);
    int rc = write_builder(path, &b, bytes, err);
    for (int l = 0; l < q->n_layers; l++) free(packed[l]);
    return rc;
}
size_t nn_file_size_weight_only(const NnQuantWeights *q) {
    Builder b;
    uint8_t *packed[NN_MAX_LAYERS] = {0};
    build_wo(&b, q, packed);
    size_t s = builder_size(&b);
    for (int l = 0; l < q->n_layers; l++) free(packed[l]);
    return s;
}

/* ------------------------------------------------------------------ int8 */
static void build_int8(Builder *b, const NnQModel *q) {
    builder_init(b, NN_FILE_INT8, q->n_layers, q->dims);
    b->bits = 8;
    b->symmetric = 1;
    b->gran = QGRAN_CHANNEL;
    for (int l = 0; l < q->n_layers; l++) {
        uint64_t N = (uint64_t)q->dims[l + 1], K = (uint64_t)q->dims[l];
        add(b, "q", l, DT_I8, q->wq[l], N * K);
        add(b, "s", l, DT_F32, q->w_scale[l], N * 4);
        add(b, "b", l, DT_I32, q->bias[l], N * 4);
        add(b, "as", l, DT_F32, &q->act_scale[l], 4);
        add(b, "az", l, DT_I32, &q->act_zero[l], 4);
        if (l + 1 < q->n_layers) {
            add(b, "rm", l, DT_I32, q->rq_mult[l], N * 4);
            add(b, "rs", l, DT_I32, q->rq_shift[l], N * 4);
        }
    }
}
int nn_save_int8(const char *path, const NnQModel *q, size_t *bytes, QErr *err) {
    Builder b;
    build_int8(&b, q);
    return write_builder(path, &b, bytes, err);
}
size_t nn_file_size_int8(const NnQModel *q) {
    Builder b;
    build_int8(&b, q);
    return builder_size(&b);
}

/* ------------------------------------------------------------------- CNN */
/* dims of a CNN file: input channels, conv1 / conv2 channels, classes, image height, width,
 * kernel size */
static const uint32_t cnn_dims[7] = {1, CNN_C1, CNN_C2, CNN_CLASSES, CNN_IMAGE, CNN_IMAGE, CNN_KERNEL};

static void cnn_builder_init(Builder *b, uint32_t kind) {
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->n_layers = 3;
    memcpy(b->dims, cnn_dims, sizeof cnn_dims);
}

static void build_cnn_fp32(Builder *b, const NnCnn *m) {
    cnn_builder_init(b, NN_FILE_CNN_FP32);
    for (int l = 0; l < 3; l++) {
        add(b, "w", l, DT_F32, m->p[2 * l], (uint64_t)nn_cnn_param_size[2 * l] * 4);
        add(b, "b", l, DT_F32, m->p[2 * l + 1], (uint64_t)nn_cnn_param_size[2 * l + 1] * 4);
    }
}
int nn_save_cnn_fp32(const char *path, const NnCnn *m, size_t *bytes, QErr *err) {
    Builder b;
    build_cnn_fp32(&b, m);
    return write_builder(path, &b, bytes, err);
}
size_t nn_file_size_cnn_fp32(const NnCnn *m) {
    Builder b;
    build_cnn_fp32(&b, m);
    return builder_size(&b);
}

static void build_cnn_int8(Builder *b, const NnCnnQ *q, uint8_t **packed) {
    cnn_builder_init(b, NN_FILE_CNN_INT8);
    b->bits = (uint32_t)q->wbits;
    b->symmetric = 1;
    b->gran = QGRAN_CHANNEL;
    for (int l = 0; l < 3; l++) {
        uint64_t N = (uint64_t)nn_cnn_wrows[l], K = (uint64_t)nn_cnn_wcols[l];
        size_t nb = qpack_bytes(q->wbits, (int64_t)(N * K));
        packed[l] = xmalloc(nb);
        qpack(q->wbits, q->codes[l], (int64_t)(N * K), packed[l]);
        add(b, "q", l, DT_PACKED, packed[l], nb);
        add(b, "s", l, DT_F32, q->wscale[l], N * 4);
        add(b, "b", l, DT_I32, q->bias[l], N * 4);
        add(b, "as", l, DT_F32, &q->act_scale[l], 4);
        add(b, "az", l, DT_I32, &q->act_zero[l], 4);
        if (l < 2) {
            add(b, "rm", l, DT_I32, q->mult[l], N * 4);
            add(b, "rs", l, DT_I32, q->shift[l], N * 4);
        }
    }
}
int nn_save_cnn_int8(const char *path, const NnCnnQ *q, size_t *bytes, QErr *err) {
    Builder b;
    uint8_t *packed[3] = {0};
    build_cnn_int8(&b, q, packed);
    int rc = write_builder(path, &b, bytes, err);
    for (int l = 0; l < 3; l++) free(packed[l]);
    return rc;
}
size_t nn_file_size_cnn_int8(const NnCnnQ *q) {
    Builder b;
    uint8_t *packed[3] = {0};
    build_cnn_int8(&b, q, packed);
    size_t len = builder_size(&b);
    for (int l = 0; l < 3; l++) free(packed[l]);
    return len;
}

const char *nn_file_kind_name(NnFileKind k) {
    switch (k) {
        case NN_FILE_FP32: return "an fp32 MLP";
        case NN_FILE_WEIGHT_ONLY: return "a weight-only quantized MLP";
        case NN_FILE_INT8: return "an integer W8A8 MLP";
        case NN_FILE_CNN_FP32: return "an fp32 CNN";
        case NN_FILE_CNN_INT8: return "an integer CNN";
    }
    return "an unknown model";
}

/* ---------------------------------------------------------------- loading */
typedef struct Reader {
    const char *path;
    const uint8_t *buf;
    size_t len, data_start, data_len;
    int n;
} Reader;

/* Finds tensor "<name><l>" and checks dtype and exact size; copies into a new buffer. */
static int take(Reader *r, const char *name, int l, Dtype dt, uint64_t count, void **out, QErr *err) {
    char want[NAME_BYTES];
    snprintf(want, sizeof want, "%s%d", name, l);
    for (int i = 0; i < r->n; i++) {
        const uint8_t *p = r->buf + HEADER_BYTES + (size_t)i * ENTRY_BYTES;
        if (strncmp((const char *)p, want, NAME_BYTES) != 0) continue;
        uint32_t d = get_u32(p + 24);
        uint64_t off = get_u64(p + 32), nb = get_u64(p + 40);
        uint64_t need = dt == DT_PACKED ? count : count * dt_size[dt];
        if (d != (uint32_t)dt)
            return qerr_set(err, "%s: tensor '%s' has dtype %u, expected %u", r->path, want, d, (unsigned)dt);
        if (nb != need)
            return qerr_set(err, "%s: tensor '%s' is %llu bytes, the header's shape needs %llu", r->path, want,
                            (unsigned long long)nb, (unsigned long long)need);
        if (off > r->data_len || nb > r->data_len - off)
            return qerr_set(err, "%s: tensor '%s' data [%llu, %llu) lies past the end of the data section (%zu bytes)",
                            r->path, want, (unsigned long long)off, (unsigned long long)(off + nb), r->data_len);
        *out = xmalloc(nb ? nb : 1);
        memcpy(*out, r->buf + r->data_start + off, nb);
        return 0;
    }
    return qerr_set(err, "%s: tensor '%s' is missing", r->path, want);
}

void nn_loaded_free(NnLoaded *l) {
    nn_model_free(&l->model);
    nn_qmodel_free(&l->qmodel);
    nn_cnn_free(&l->cnn);
    nn_cnn_q_free(&l->cnnq);
    memset(l, 0, sizeof *l);
}

/* The CNN kinds: the fixed architecture, then the tensors. */
static int load_cnn(Reader *r, uint32_t kind, NnLoaded *out, QErr *err) {
    const uint8_t *buf = r->buf;
    uint32_t L = get_u32(buf + 12), d[9];
    for (int i = 0; i < 9; i++) d[i] = get_u32(buf + 16 + 4 * i);
    int same = L == 3;
    for (int i = 0; i < 9; i++) same &= d[i] == (i < 7 ? cnn_dims[i] : 0);
    if (!same)
        return qerr_set(err, "%s: CNN shape %u layers, channels %u-%u-%u, %u classes, %ux%u images, %ux%u kernels; "
                        "this build's CNN is 3 layers, 1-%d-%d, %d classes, %dx%d images, %dx%d kernels",
                        r->path, L, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[6], CNN_C1, CNN_C2, CNN_CLASSES,
                        CNN_IMAGE, CNN_IMAGE, CNN_KERNEL, CNN_KERNEL);
    if (kind == NN_FILE_CNN_FP32) {
        NnCnn *m = &out->cnn;
        for (int l = 0; l < 3; l++)
            if (take(r, "w", l, DT_F32, (uint64_t)nn_cnn_param_size[2 * l], (void **)&m->p[2 * l], err) ||
                take(r, "b", l, DT_F32, (uint64_t)nn_cnn_param_size[2 * l + 1], (void **)&m->p[2 * l + 1], err) ||
                q_check_finite(m->p[2 * l], nn_cnn_param_size[2 * l], r->path, "w (CNN)", err) ||
                q_check_finite(m->p[2 * l + 1], nn_cnn_param_size[2 * l + 1], r->path, "b (CNN)", err))
                return -1;
        return 0;
    }
    NnCnnQ *q = &out->cnnq;
    uint32_t bits = get_u32(buf + 52), symgran = get_u32(buf + 56);
    if (bits < 2 || bits > 8)
        return qerr_set(err, "%s: integer CNN with %u-bit weights, expected 2..8", r->path, bits);
    if (symgran != (1u | (uint32_t)QGRAN_CHANNEL << 8))
        return qerr_set(err, "%s: integer CNN weights must be symmetric per channel (field 0x%x)", r->path, symgran);
    q->wbits = (int)bits;
    for (int l = 0; l < 3; l++) {
        uint64_t N = (uint64_t)nn_cnn_wrows[l], K = (uint64_t)nn_cnn_wcols[l];
        uint8_t *packed = NULL;
        float *as = NULL;
        int32_t *az = NULL;
        int bad = take(r, "q", l, DT_PACKED, qpack_bytes(q->wbits, (int64_t)(N * K)), (void **)&packed, err) ||
                  take(r, "s", l, DT_F32, N, (void **)&q->wscale[l], err) ||
                  take(r, "b", l, DT_I32, N, (void **)&q->bias[l], err) || take(r, "as", l, DT_F32, 1, (void **)&as, err) ||
                  take(r, "az", l, DT_I32, 1, (void **)&az, err) ||
                  (l < 2 && (take(r, "rm", l, DT_I32, N, (void **)&q->mult[l], err) ||
                             take(r, "rs", l, DT_I32, N, (void **)&q->shift[l], err)));
        if (!bad) {
            q->codes[l] = xmalloc(N * K);
            qunpack(q->wbits, packed, (int64_t)(N * K), q->codes[l]);
            q->act_scale[l] = *as;
            q->act_zero[l] = *az;
        }
        free(packed);
        free(as);
        free(az);
        if (bad) return -1;
        if (!(q->act_scale[l] > 0) || !isfinite(q->act_scale[l]) || q->act_zero[l] < -128 || q->act_zero[l] > 127)
            return qerr_set(err, "%s: layer %d activation grid (scale %g, zero %d) is invalid", r->path, l,
                            q->act_scale[l], q->act_zero[l]);
        for (uint64_t n = 0; n < N; n++) {
            if (!(q->wscale[l][n] > 0) || !isfinite(q->wscale[l][n]))
                return qerr_set(err, "%s: layer %d weight scale %llu is %g, expected a positive number", r->path, l,
                                (unsigned long long)n, q->wscale[l][n]);
            /* kern_quantize_multiplier's range: mult in [2^30, 2^31), a right shift above -31 */
            if (l < 2 && (q->mult[l][n] < (1 << 30) || q->shift[l][n] < -30 || q->shift[l][n] > 62))
                return qerr_set(err, "%s: layer %d requantization %llu (multiplier %d, shift %d) is out of range", r->path,
                                l, (unsigned long long)n, q->mult[l][n], q->shift[l][n]);
        }
    }
    nn_cnn_q_pack(q);
    return 0;
}

int nn_load(const char *path, NnLoaded *out, QErr *err) {
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    if (qfile_read_all(path, &buf, &len, err)) return -1;
    Reader r = {path, buf, len, 0, 0, 0};
    int rc = -1;
    if (len < HEADER_BYTES + 4) {
        qerr_set(err, "%s: truncated: %zu bytes, a .qnn file has at least %d", path, len, HEADER_BYTES + 4);
        goto done;
    }
    if (memcmp(buf, "QNN1", 4) != 0) {
        qerr_set(err, "%s: not a .qnn file (bad magic)", path);
        goto done;
    }
    uint32_t ver = get_u32(buf + 4);
    if (ver != VERSION) {
        qerr_set(err, "%s: unsupported .qnn version %u (this build reads %d)", path, ver, VERSION);
        goto done;
    }
    uint32_t crc_file = get_u32(buf + len - 4), crc = (uint32_t)crc32(0L, buf, (uInt)(len - 4));
    r.n = (int)(get_u32(buf + 60) & 0xff);
    size_t head = HEADER_BYTES + (size_t)r.n * ENTRY_BYTES;
    if (head + 4 > len) {
        qerr_set(err, "%s: truncated: the tensor table (%d entries) ends at byte %zu, the file has %zu", path, r.n,
                 head, len - 4);
        goto done;
    }
    if (crc != crc_file) {
        qerr_set(err, "%s: checksum mismatch (file corrupt or truncated): stored 0x%08x, computed 0x%08x", path,
                 crc_file, crc);
        goto done;
    }
    r.data_start = head;
    r.data_len = len - 4 - head;
    uint32_t kind = get_u32(buf + 8), L = get_u32(buf + 12);
    if (kind > NN_FILE_CNN_INT8) {
        qerr_set(err, "%s: unknown model kind %u", path, kind);
        goto done;
    }
    if (kind == NN_FILE_CNN_FP32 || kind == NN_FILE_CNN_INT8) {
        out->kind = (NnFileKind)kind;
        if (load_cnn(&r, kind, out, err)) goto fail;
        rc = 0;
        goto done;
    }
    if (L < 1 || L > NN_MAX_LAYERS) {
        qerr_set(err, "%s: %u layers, expected 1..%d", path, L, NN_MAX_LAYERS);
        goto done;
    }
    int dims[NN_MAX_LAYERS + 1] = {0};
    for (uint32_t i = 0; i <= L; i++) {
        dims[i] = (int)get_u32(buf + 16 + 4 * i);
        if (dims[i] < 1 || dims[i] > 65536) {
            qerr_set(err, "%s: layer width %d outside 1..65536", path, dims[i]);
            goto done;
        }
    }
    out->kind = (NnFileKind)kind;
    uint32_t bits = get_u32(buf + 52), symgran = get_u32(buf + 56), group = get_u32(buf + 60) >> 8;
    if (kind == NN_FILE_FP32 || kind == NN_FILE_WEIGHT_ONLY) {
        NnModel *m = &out->model;
        m->n_layers = (int)L;
        memcpy(m->dims, dims, sizeof dims);
        /* the scheme fields of a weight-only file, each validated where it is read: an unchecked
         * granularity reached a division by zero, a group size of 1 a scale table as large as
         * the weights before any tensor was checked */
        if (kind == NN_FILE_WEIGHT_ONLY) {
            uint32_t sym = symgran & 0xff, gran = symgran >> 8;
            if (bits < 2 || bits > 8 || sym > 1 || gran > QGRAN_GROUP || (gran == QGRAN_GROUP && group < 1)) {
                qerr_set(err, "%s: weight-only scheme (bits %u, symmetric %u, granularity %u, group %u): expected bits "
                         "2..8, symmetric 0/1, granularity 0 (tensor), 1 (channel) or 2 (group with group size >= 1)",
                         path, bits, sym, gran, group);
                goto fail;
            }
        }
        NnWeightQuant s = {(int)bits, (int)(symgran & 0xff), (QGranularity)(symgran >> 8), group, QOBS_MINMAX};
        out->scheme = s;
        for (int l = 0; l < (int)L; l++) {
            uint64_t N = (uint64_t)dims[l + 1], K = (uint64_t)dims[l];
            char bn[16];
            snprintf(bn, sizeof bn, "b%d", l);
            if (take(&r, "b", l, DT_F32, N, (void **)&m->b[l], err) || q_check_finite(m->b[l], (int64_t)N, path, bn, err))
                goto fail;
            if (kind == NN_FILE_FP32) {
                char nm[16];
                snprintf(nm, sizeof nm, "w%d", l);
                if (take(&r, "w", l, DT_F32, N * K, (void **)&m->w[l], err) ||
                    q_check_finite(m->w[l], (int64_t)(N * K), path, nm, err))
                    goto fail;
                continue;
            }
            /* budget: the scale (and zero-point) table qparams_init allocates, 4 bytes per unit
             * each, must be in the file before it is allocated */
            uint64_t units = s.gran == QGRAN_TENSOR ? 1 : s.gran == QGRAN_CHANNEL ? N : N * ((K + group - 1) / group);
            if (q_budget(path, "a weight-only layer's scale table", (int64_t)(units * 4 * (s.symmetric ? 1 : 2)),
                         (int64_t)r.data_len, err))
                goto fail;
            QParams p;
            if (qparams_init(&p, s.bits, s.symmetric, s.gran, s.group_size, (int64_t)N, (int64_t)K, err)) {
                qerr_prefix(err, "%s: layer %d scheme", path, l);
                goto fail;
            }
            uint8_t *packed = NULL;
            float *sc = NULL;
            int32_t *zp = NULL;
            int bad = take(&r, "q", l, DT_PACKED, qpack_bytes(s.bits, (int64_t)(N * K)), (void **)&packed, err) ||
                      take(&r, "s", l, DT_F32, (uint64_t)p.n, (void **)&sc, err) ||
                      (!s.symmetric && take(&r, "z", l, DT_I32, (uint64_t)p.n, (void **)&zp, err));
            if (!bad) {
                int8_t *codes = xmalloc(N * K);
                qunpack(s.bits, packed, (int64_t)(N * K), codes);
                memcpy(p.scale, sc, (size_t)p.n * 4);
                if (zp) memcpy(p.zero, zp, (size_t)p.n * 4);
                /* zero-points on the code grid: (code - zero) must not overflow */
                for (int64_t k = 0; k < p.n && !bad; k++)
                    if (p.zero[k] < p.qmin || p.zero[k] > p.qmax) {
                        bad = qerr_set(err, "%s: tensor 'z%d' zero-point %lld is %d, expected %d..%d", path, l,
                                       (long long)k, p.zero[k], p.qmin, p.qmax);
                    }
                if (!bad) {
                    m->w[l] = xmalloc(N * K * 4);
                    dequantize(&p, codes, m->w[l]);
                }
                free(codes);
            }
            free(packed);
            free(sc);
            free(zp);
            qparams_free(&p);
            if (bad) goto fail;
            char wn[16];
            snprintf(wn, sizeof wn, "q%d", l);
            if (q_check_finite(m->w[l], (int64_t)(N * K), path, wn, err)) goto fail;
        }
    } else {
        NnQModel *q = &out->qmodel;
        q->n_layers = (int)L;
        memcpy(q->dims, dims, sizeof dims);
        for (int l = 0; l < (int)L; l++) {
            uint64_t N = (uint64_t)dims[l + 1], K = (uint64_t)dims[l];
            float *as = NULL;
            int32_t *az = NULL;
            if (take(&r, "q", l, DT_I8, N * K, (void **)&q->wq[l], err) ||
                take(&r, "s", l, DT_F32, N, (void **)&q->w_scale[l], err) ||
                take(&r, "b", l, DT_I32, N, (void **)&q->bias[l], err) || take(&r, "as", l, DT_F32, 1, (void **)&as, err) ||
                take(&r, "az", l, DT_I32, 1, (void **)&az, err)) {
                free(as);
                free(az);
                goto fail;
            }
            q->act_scale[l] = *as;
            q->act_zero[l] = *az;
            free(as);
            free(az);
            if (!(q->act_scale[l] > 0) || !isfinite(q->act_scale[l]) || q->act_zero[l] < -128 || q->act_zero[l] > 127) {
                qerr_set(err, "%s: layer %d activation grid (scale %g, zero %d) is invalid", path, l, q->act_scale[l],
                         q->act_zero[l]);
                goto fail;
            }
            if (l + 1 < (int)L && (take(&r, "rm", l, DT_I32, N, (void **)&q->rq_mult[l], err) ||
                                   take(&r, "rs", l, DT_I32, N, (void **)&q->rq_shift[l], err)))
                goto fail;
            for (uint64_t n = 0; n < N; n++) {
                if (!(q->w_scale[l][n] > 0) || !isfinite(q->w_scale[l][n])) {
                    qerr_set(err, "%s: layer %d weight scale %llu is %g, expected a positive number", path, l,
                             (unsigned long long)n, q->w_scale[l][n]);
                    goto fail;
                }
                /* kern_quantize_multiplier's range: mult in [2^30, 2^31), a right shift above -31 */
                if (l + 1 < (int)L && (q->rq_mult[l][n] < (1 << 30) || q->rq_shift[l][n] < -30 || q->rq_shift[l][n] > 62)) {
                    qerr_set(err, "%s: layer %d requantization %llu (multiplier %d, shift %d) is out of range", path, l,
                             (unsigned long long)n, q->rq_mult[l][n], q->rq_shift[l][n]);
                    goto fail;
                }
            }
        }
        nn_qmodel_pack(q, kern_isa_best());
    }
    rc = 0;
    goto done;
fail:
    nn_loaded_free(out);
done:
    free(buf);
    return rc;
}
