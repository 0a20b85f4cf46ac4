/* idx.c — IDX reader (raw or .gz) for MNIST-style datasets (nn_data.h). */
#include "quant/nn_data.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The bytes an IDX file's header implies (header + data), or 0 when the header is not one
 * this reader accepts (the caller reports why): 0x803 images n x rows x cols, 0x801 labels. */
static uint64_t idx_implied(const uint8_t *h, size_t n) {
    if (n >= 16 && be32(h) == 0x00000803) {
        uint32_t k = be32(h + 4), r = be32(h + 8), c = be32(h + 12);
        /* the bounds nn_dataset_load_idx enforces; outside them it refuses the file anyway */
        if (k > 100000000u || r > 4096 || c > 4096) return 0;
        return 16 + (uint64_t)k * r * c;
    }
    if (n >= 8 && be32(h) == 0x00000801) return 8 + (uint64_t)be32(h + 4);
    return 0;
}

/* Reads a whole (possibly gzip-compressed) file; gzread passes raw files through.
 * Decompression is bounded (a gzip bomb must not exhaust memory): never more than one byte
 * past what the IDX header implies (one byte, so the caller can still say "trailing bytes"),
 * and never more than deflate's largest possible expansion of the file (1032:1). */
static int read_gz(const char *path, uint8_t **data, size_t *len, QErr *err) {
    *data = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return qerr_set(err, "%s: cannot open", path);
    fseek(fp, 0, SEEK_END);
    long fsize = ftell(fp);
    fclose(fp);
    gzFile f = gzopen(path, "rb");
    if (!f || fsize < 0) {
        if (f) gzclose(f);
        return qerr_set(err, "%s: cannot open", path);
    }
    uint64_t limit = 1032 * (uint64_t)fsize + 65536, implied = 0;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = xmalloc(cap);
    for (;;) {
        if (!implied && n >= 16) {
            implied = idx_implied(buf, n);
            if (implied && implied + 1 < limit) limit = implied + 1;
        }
        if (n >= limit) break;
        if (n == cap) {
            cap = cap * 2 < limit ? cap * 2 : (size_t)limit;
            buf = xrealloc(buf, cap);
        }
        /* the first read stops at 16 bytes so the header is seen before anything large */
        size_t want = n < 16 ? 16 - n : cap - n;
        int k = gzread(f, buf + n, (unsigned)(want > (1u << 30) ? 1u << 30 : want));
        if (k < 0) {
            int code;
            const char *m = gzerror(f, &code);
            qerr_set(err, "%s: corrupt or truncated gzip data (%s)", path, m ? m : "?");
            gzclose(f);
            free(buf);
            return -1;
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    if (n >= limit) {
        /* stopped by the cap: the stream is longer than the header says (or a bomb) */
        gzclose(f);
        *data = buf;
        *len = n;
        return 0;
    }
    /* gzread reports a truncated stream only through gzerror / gzclose */
    int rc = gzclose(f);
    if (rc != Z_OK) {
        free(buf);
        return qerr_set(err, "%s: corrupt or truncated gzip data (zlib error %d)", path, rc);
    }
    *data = buf;
    *len = n;
    return 0;
}

int nn_dataset_load_idx(NnDataset *d, const char *images_path, const char *labels_path, QErr *err) {
    memset(d, 0, sizeof *d);
    uint8_t *im = NULL, *lb = NULL;
    size_t imlen, lblen;
    if (read_gz(images_path, &im, &imlen, err)) return -1;
    if (read_gz(labels_path, &lb, &lblen, err)) {
        free(im);
        return -1;
    }
    int rc = -1;
    if (imlen < 16) {
        qerr_set(err, "%s: truncated: %zu bytes, an IDX image header needs 16", images_path, imlen);
        goto done;
    }
    if (be32(im) != 0x00000803) {
        qerr_set(err, "%s: bad magic 0x%08x (expected 0x00000803, IDX unsigned-byte 3-D images)", images_path, be32(im));
        goto done;
    }
    if (lblen < 8) {
        qerr_set(err, "%s: truncated: %zu bytes, an IDX label header needs 8", labels_path, lblen);
        goto done;
    }
    if (be32(lb) != 0x00000801) {
        qerr_set(err, "%s: bad magic 0x%08x (expected 0x00000801, IDX unsigned-byte labels)", labels_path, be32(lb));
        goto done;
    }
    uint32_t n = be32(im + 4), rows = be32(im + 8), cols = be32(im + 12), nl = be32(lb + 4);
    if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || n == 0 || n > 100000000u) {
        qerr_set(err, "%s: implausible dimensions %u x %u x %u", images_path, n, rows, cols);
        goto done;
    }
    uint64_t need = 16 + (uint64_t)n * rows * cols;
    if (imlen != need) {
        qerr_set(err, "%s: %s: header says %u images of %ux%u (%llu bytes) but the data is %zu bytes", images_path,
                 imlen < need ? "truncated" : "trailing bytes", n, rows, cols, (unsigned long long)need, imlen);
        goto done;
    }
    if (lblen != 8 + (uint64_t)nl) {
        qerr_set(err, "%s: %s: header says %u labels (%llu bytes) but the data is %zu bytes", labels_path,
                 lblen < 8 + (uint64_t)nl ? "truncated" : "trailing bytes", nl, (unsigned long long)(8 + (uint64_t)nl), lblen);
        goto done;
    }
    if (nl != n) {
        qerr_set(err, "%s: %u labels but %s has %u images", labels_path, nl, images_path, n);
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        if (lb[8 + i] > 9) {
            qerr_set(err, "%s: label %u at index %u is not a class 0..9", labels_path, lb[8 + i], i);
            goto done;
        }
    d->n = n;
    d->rows = (int)rows;
    d->cols = (int)cols;
    size_t npix = (size_t)n * rows * cols;
    d->images = xmalloc(npix * sizeof(float));
    for (size_t i = 0; i < npix; i++) d->images[i] = im[16 + i] * (1.0f / 255.0f);
    d->labels = xmalloc(n);
    memcpy(d->labels, lb + 8, n);
    rc = 0;
done:
    free(im);
    free(lb);
    return rc;
}

int nn_dataset_load_split(NnDataset *d, const char *dir, int train, QErr *err) {
    const char *pre = train ? "train" : "t10k";
    char ip[4096], lp[4096];
    const char *ext[] = {".gz", ""};
    for (int e = 0; e < 2; e++) {
        snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte%s", dir, pre, ext[e]);
        snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte%s", dir, pre, ext[e]);
        if (qpath_exists(ip) && qpath_exists(lp)) return nn_dataset_load_idx(d, ip, lp, err);
    }
    memset(d, 0, sizeof *d);
    return qerr_set(err, "%s: no %s-images-idx3-ubyte[.gz] + %s-labels-idx1-ubyte[.gz] (Fashion-MNIST: apt-get install dataset-fashion-mnist)",
                    dir, pre, pre);
}

void nn_dataset_free(NnDataset *d) {
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}
