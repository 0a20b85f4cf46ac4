/* stream_rtn.c — RTN of a whole model straight from its file's rows (stream_rtn.h).
 *
 * Round to nearest needs no activations and its rows are independent, so nothing is widened
 * beyond a chunk of rows: each thread takes CHUNK_ELEMS weights from the mapped file, widens
 * them into its own cache-resident buffer, checks them finite, and writes their packed codes
 * and float16 scales straight into the output buffer of the tensor (job) being quantized.
 * The block path (stream.c: a whole block widened to fp32, codes for whole matrices, packed
 * after) moves every weight through memory three more times; its bytes are the same.
 *
 * Jobs are the quantized matrices in file order (embedding, classifier, then each block's
 * linears).  While the threads quantize job j, one of them first writes job j - 1's buffers
 * (double-buffered) and the small fp32 tensors between them (norms), then joins the chunks
 * (dynamic schedule): writing overlaps quantizing.  Which thread does what changes nothing in
 * the bytes, so the file is the same for any thread count. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant/checked.h"
#include "quant/kernels.h"
#include "quant/pack.h"
#include "stream_rtn.h"

enum { CHUNK_ELEMS = 32768 }; /* weights per chunk: 128 KiB in fp32, in a core's L2 */

typedef struct Job {
    StTensor v;     /* the weight as stored [rows, cols] (a view into the mapped file) */
    QParams *p;     /* its grid (shared by jobs of one shape: scales overwritten per job) */
    char base[96];  /* the tensors' stem: "token_embd", "output", "blk.3.q" */
    int norms;      /* the block whose norms precede this job in the file, or -1 */
    int final_norm; /* output_norm precedes this job */
    int rows_chunk; /* rows per chunk: a multiple of 8, so every chunk's packed codes start on a byte */
    int fd;         /* the file holding v (read with pread), or -1: read through the map */
    int64_t off;    /* v's offset in it */
} Job;

typedef struct Bufs { /* one job's bytes as the file stores them */
    uint8_t *qw;
    uint16_t *sc;
    uint8_t *zp;
} Bufs;

static const char *const NORMS[2][2] = {{"attn_norm", "blk.%d.attn_norm.weight"}, {"ffn_norm", "blk.%d.ffn_norm.weight"}};

int llm_rtn_stream_ok(LlmSource *src, const LlmModel *m, const LlmWQuant *s, int emb_bits) {
    const LlmConfig *c = &m->c;
    if (s->method != LLM_Q_RTN || c->arch != LLM_ARCH_LLAMA || emb_bits <= 0 || m->tok_emb || m->pos_emb ||
        m->final_norm_b || (!c->shared_head && llm_qfile_head_bits(c, s) <= 0))
        return 0;
    LlmLinearShape lin[LLM_MAX_LINEARS];
    const int nl = llm_block_shapes(c, lin);
    StTensor v;
    if (llm_source_view(src, m, 0, "embed", &v) || v.ndim != 2 || v.shape[0] != c->vocab_size || v.shape[1] != c->dim) return 0;
    if (!c->shared_head &&
        (llm_source_view(src, m, 0, "head", &v) || v.ndim != 2 || v.shape[0] != c->vocab_size || v.shape[1] != c->dim))
        return 0;
    for (int l = 0; l < c->n_layers; l++) {
        for (int k = 0; k < 2; k++)
            if (llm_source_view(src, m, l, NORMS[k][0], &v) || v.ndim != 1 || v.shape[0] != c->dim) return 0;
        for (int k = 0; k < nl; k++)
            if (llm_source_view(src, m, l, lin[k].name, &v) || v.ndim != 2 || v.shape[0] != lin[k].out ||
                v.shape[1] != lin[k].in)
                return 0;
    }
    return 1;
}

/* Rows [r0, r0 + nr) of job J widened into x, quantized, packed into b (the chunk's slice). 0, or
 * -1 when a weight is not finite (the caller names it). */
static int do_chunk(const Job *J, int64_t r0, int64_t nr, uint8_t *raw, float *x, int8_t *q, const Bufs *b, KernIsa isa) {
    QParams *p = J->p;
    const int64_t in = p->cols, n = nr * in, gpr = p->groups_per_row;
    StTensor sub = J->v;
    const size_t es = st_dtype_size(J->v.dtype);
    sub.data = J->v.data + (size_t)(r0 * in) * es;
    sub.numel = n;
    sub.nbytes = (size_t)n * es;
    sub.shape[0] = nr;
    if (J->fd >= 0) {
        /* a copy into a buffer in this core's cache: no page faults, no page tables to fill and
         * drop again for a file read once */
        size_t got = 0;
        const off_t at = (off_t)(J->off + (int64_t)((size_t)(r0 * in) * es));
        while (got < sub.nbytes) {
            ssize_t k = pread(J->fd, raw + got, sub.nbytes - got, at + (off_t)got);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) return -2;
            got += (size_t)k;
        }
        sub.data = raw;
    }
    QErr e;
    if (st_to_f32(&sub, x, &e)) return -1;
    /* non-finite weights are seen while quantizing; q_check_finite then decides (refused
     * unless QUANT_ALLOW_NONFINITE) */
    if (llm_rtn_rows_local(p, x, r0, nr, q, b->sc + r0 * gpr, isa) && q_check_finite(x, n, "", "", &e)) return -1;
    qpack(p->bits, q, n, b->qw + qpack_bytes(p->bits, r0 * in)); /* r0 * in * bits: whole bytes (r0 % 8 == 0) */
    if (!p->symmetric) {
        int8_t *z = q; /* the codes are packed: their buffer holds the zero-points now */
        for (int64_t u = 0; u < nr * gpr; u++) z[u] = (int8_t)p->zero[r0 * gpr + u];
        qpack(p->bits, z, nr * gpr, b->zp + qpack_bytes(p->bits, r0 * gpr));
    }
    return 0;
}

static int put(LlmQfileSink *o, const char *name, const void *data, size_t nbytes, QErr *err) {
    return llm_qfile_claim(o, name, nbytes, err) < 0 || qwriter_write(o->w, data, nbytes, err) ? -1 : 0;
}

/* Job J's tensors from b, as llm_qfile_put_quant writes them: packed codes, scales, zero-points. */
static int put_job(LlmQfileSink *o, const Job *J, const Bufs *b, QErr *err) {
    const QParams *p = J->p;
    char name[160];
    snprintf(name, sizeof name, "%s.qweight", J->base);
    if (put(o, name, b->qw, qpack_bytes(p->bits, p->rows * p->cols), err)) return -1;
    snprintf(name, sizeof name, "%s.scale", J->base);
    if (put(o, name, b->sc, (size_t)p->n * 2, err)) return -1;
    if (p->symmetric) return 0;
    snprintf(name, sizeof name, "%s.zero", J->base);
    return put(o, name, b->zp, qpack_bytes(p->bits, p->n), err);
}

/* The fp32 tensors that precede job J in the file (final norm, a block's norms). */
static int put_pre(LlmQfileSink *o, LlmSource *src, const LlmModel *m, const Job *J, float *tmp, QErr *err) {
    if (J->final_norm && llm_qfile_put_f32(o, "output_norm.weight", m->final_norm, m->c.dim, err)) return -1;
    if (J->norms < 0) return 0;
    for (int k = 0; k < 2; k++) {
        StTensor v;
        char name[96];
        if (llm_source_view(src, m, J->norms, NORMS[k][0], &v)) return qerr_set(err, "internal: block %d's %s", J->norms, NORMS[k][0]);
        snprintf(name, sizeof name, NORMS[k][1], J->norms);
        if (st_to_f32(&v, tmp, err) || q_check_finite(tmp, v.numel, m->name, v.name, err) ||
            llm_qfile_put_f32(o, name, tmp, v.numel, err))
            return -1;
    }
    return 0;
}

/* A chunk found a weight that is not finite: the whole tensor widened once more, so the error
 * names the element exactly as the block path's reader does. */
static int name_nonfinite(const Job *J, const LlmModel *m, QErr *err) {
    float *x = xmalloc((size_t)J->v.numel * sizeof(float));
    int rc = st_to_f32(&J->v, x, err) || q_check_finite(x, J->v.numel, m->name, J->v.name, err) ? -1 : 0;
    free(x);
    return rc ? -1 : qerr_set(err, "internal: %s: a chunk was not finite but the tensor is", J->v.name);
}

int llm_rtn_stream_write(LlmSource *src, const LlmModel *m, const LlmWQuant *s, int emb_bits, LlmQfileSink *o,
                         QProgress *prog, double *bits, double *weights, QErr *err) {
    const LlmConfig *c = &m->c;
    const int64_t V = c->vocab_size, D = c->dim;
    LlmLinearShape lin[LLM_MAX_LINEARS];
    const int nl = llm_block_shapes(c, lin), L = c->n_layers;
    /* grids: the embedding's, the classifier's, one per linear of a block */
    QParams pe = {0}, ph = {0}, pl[LLM_MAX_LINEARS];
    memset(pl, 0, sizeof pl);
    int rc = -1, nj = 0, bad_job = -1, bad_kind = 0, nfd = 0, *fds = NULL;
    const char **fd_path = NULL;
    Job *jobs = xcalloc((size_t)(2 + L * nl), sizeof *jobs);
    Bufs bufs[2] = {{0}};
    float *tmp = xmalloc((size_t)D * sizeof(float));
    if (llm_emb_qparams(&pe, emb_bits, llm_qfile_emb_group(c, s, emb_bits), V, D, err)) goto out;
    if (!c->shared_head && llm_rtn_init(&ph, llm_qfile_head_bits(c, s), 1, LLM_QFILE_HEAD_GROUP, V, D, err)) goto out;
    for (int k = 0; k < nl; k++)
        if (llm_rtn_init(&pl[k], s->bits, s->symmetric, s->group_size, lin[k].out, lin[k].in, err)) goto out;
    /* the jobs in file order (llm_qfile_layout's) */
    jobs[nj] = (Job){.p = &pe, .norms = -1};
    snprintf(jobs[nj].base, sizeof jobs[nj].base, "token_embd");
    if (llm_source_view(src, m, 0, "embed", &jobs[nj++].v)) goto internal;
    if (!c->shared_head) {
        jobs[nj] = (Job){.p = &ph, .norms = -1};
        snprintf(jobs[nj].base, sizeof jobs[nj].base, "output");
        if (llm_source_view(src, m, 0, "head", &jobs[nj++].v)) goto internal;
    }
    for (int l = 0; l < L; l++)
        for (int k = 0; k < nl; k++) {
            Job *J = &jobs[nj++];
            *J = (Job){.p = &pl[k], .norms = k == 0 ? l : -1, .final_norm = l == 0 && k == 0};
            snprintf(J->base, sizeof J->base, "blk.%d.%s", l, lin[k].name);
            if (llm_source_view(src, m, l, lin[k].name, &J->v)) goto internal;
            const double e = (double)lin[k].out * lin[k].in;
            *bits += qparams_bits_per_weight(&pl[k]) * e;
            *weights += e;
        }
    /* the files, each opened once (QUANT_RTN_READ=map: read through the map instead) */
    const char *mode = getenv("QUANT_RTN_READ");
    const int use_pread = !(mode && strcmp(mode, "map") == 0);
    for (int j = 0; j < nj; j++) {
        Job *J = &jobs[j];
        J->fd = -1;
        if (!use_pread) continue;
        const char *path = llm_source_view_file(src, &J->v, &J->off);
        if (!path) goto internal;
        for (int i = 0; i < nfd && J->fd < 0; i++)
            if (strcmp(fd_path[i], path) == 0) J->fd = fds[i];
        if (J->fd < 0) {
            fds = xrealloc(fds, (size_t)(nfd + 1) * sizeof *fds);
            fd_path = xrealloc(fd_path, (size_t)(nfd + 1) * sizeof *fd_path);
            fd_path[nfd] = path;
            if ((fds[nfd] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
                qerr_set(err, "%s: cannot open: %s", path, strerror(errno));
                goto out;
            }
            J->fd = fds[nfd++];
        }
    }
    /* chunk sizes and the largest buffers any job needs */
    size_t max_qw = 0, max_sc = 0, max_zp = 0, max_chunk = 0;
    for (int j = 0; j < nj; j++) {
        Job *J = &jobs[j];
        const int64_t cols = J->p->cols, r = CHUNK_ELEMS / cols;
        J->rows_chunk = (int)(r < 8 ? 8 : r - r % 8);
        const size_t qw = qpack_bytes(J->p->bits, J->p->rows * cols), zp = qpack_bytes(J->p->bits, J->p->n);
        const size_t ch = (size_t)J->rows_chunk * (size_t)cols;
        max_qw = qw > max_qw ? qw : max_qw;
        max_sc = (size_t)J->p->n > max_sc ? (size_t)J->p->n : max_sc;
        max_zp = zp > max_zp ? zp : max_zp;
        max_chunk = ch > max_chunk ? ch : max_chunk;
    }
    for (int i = 0; i < 2; i++) {
        bufs[i].qw = xmalloc(max_qw);
        bufs[i].sc = xmalloc(max_sc * 2);
        bufs[i].zp = xmalloc(max_zp);
    }
    const KernIsa isa = kern_isa_best();
    int fail = 0; /* 1: a chunk was not finite (bad_job); 2: writing failed (err set) */
#pragma omp parallel
    {
        float *x = xmalloc(max_chunk * sizeof(float));
        uint8_t *raw = xmalloc(max_chunk * sizeof(float));
        int8_t *q = xmalloc(max_chunk);
        for (int j = 0; j <= nj; j++) {
#pragma omp single nowait
            {
                int f;
#pragma omp atomic read
                f = fail;
                if (j > 0 && f == 0 && put_job(o, &jobs[j - 1], &bufs[(j - 1) & 1], err)) f = 2;
                if (j > 0 && jobs[j - 1].fd < 0) qmap_release(jobs[j - 1].v.data, jobs[j - 1].v.nbytes); /* its file pages: done */
                if (j < nj && f == 0 && put_pre(o, src, m, &jobs[j], tmp, err)) f = 2;
                if (f == 2) {
#pragma omp atomic write
                    fail = 2;
                }
                if (prog && j < nj) {
                    qprogress_frac(prog, (double)j / nj);
                    qprogress_update(prog, "streamed rtn w%d: %s (%d/%d)", s->bits, jobs[j].base, j + 1, nj);
                }
            }
            if (j == nj) break;
            const Job *J = &jobs[j];
            const int64_t rows = J->p->rows, R = J->rows_chunk, nch = (rows + R - 1) / R;
#pragma omp for schedule(dynamic, 1)
            for (int64_t ch = 0; ch < nch; ch++) {
                int f;
#pragma omp atomic read
                f = fail;
                if (f) continue;
                const int64_t r0 = ch * R, nr = rows - r0 < R ? rows - r0 : R;
                const int bad = do_chunk(J, r0, nr, raw, x, q, &bufs[j & 1], isa);
                if (bad) {
#pragma omp critical(rtn_stream_fail)
                    if (bad_job < 0) { /* the first job found: chunks of one job only run together */
                        bad_job = j;
                        bad_kind = bad;
#pragma omp atomic write
                        fail = 1;
                    }
                }
            }
        }
        free(x);
        free(raw);
        free(q);
    }
    if (fail == 1 && bad_kind == -2) {
        int64_t off;
        rc = qerr_set(err, "%s: tensor '%s': read failed (the file changed while being read?)",
                      llm_source_view_file(src, &jobs[bad_job].v, &off), jobs[bad_job].v.name);
    } else if (fail == 1) {
        rc = name_nonfinite(&jobs[bad_job], m, err);
    } else {
        rc = fail ? -1 : 0;
    }
    goto out;
internal:
    qerr_set(err, "internal: a tensor llm_rtn_stream_ok found is gone");
out:
    for (int i = 0; i < 2; i++) {
        free(bufs[i].qw);
        free(bufs[i].sc);
        free(bufs[i].zp);
    }
    for (int i = 0; i < nfd; i++) close(fds[i]);
    free(fds);
    free(fd_path);
    free(tmp);
    free(jobs);
    qparams_free(&pe);
    qparams_free(&ph);
    for (int k = 0; k < nl; k++) qparams_free(&pl[k]);
    return rc;
}
