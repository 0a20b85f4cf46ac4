/* stream_rtn.c — RTN of a whole model straight from its file's rows (stream_rtn.h).
 *
 * Round to nearest needs no activations and its rows are independent, so nothing is widened
 * beyond a chunk of rows: each thread reads CHUNK_ELEMS weights from the file (pread into its
 * own buffer), widens them in its cache, and writes their packed codes and float16 scales
 * straight into the output buffers of the job being quantized.  The block path (stream.c: a
 * whole block widened to fp32, codes for whole matrices, packed after) moves every weight
 * through memory several more times; its bytes are the same.
 *
 * Jobs are parts of at most PART_ELEMS weights of the quantized matrices, in file order
 * (embedding, classifier, then each block's linears): a matrix's packed codes are one run of
 * bytes, written part by part, and its scales follow once its last part is done.  Threads take
 * chunks in order across all jobs; whichever finds the writer free writes the finished jobs in
 * order (with the small fp32 tensors between them: norms), so writing overlaps quantizing and
 * no thread waits at a barrier for one the machine's other work has descheduled.  Buffers are
 * a ring of RING jobs (and matrices, for scales).  Which thread does what changes nothing in
 * the bytes, so the file is the same for any thread count.  A part (and a chunk) is quantized
 * on the grid of a matrix of its rows: RTN's units lie within rows, so its scales and codes are
 * those rows' scales and codes in the whole matrix. */
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant/checked.h"
#include "quant/kernels.h"
#include "quant/pack.h"
#include "stream_rtn.h"

enum {
    CHUNK_ELEMS = 32768,  /* weights per chunk: 128 KiB in fp32, in a core's L2 */
    PART_ELEMS = 1 << 22, /* weights per job at most: its packed codes 2 MiB at 4 bits */
};

typedef struct Job {
    StTensor v;     /* this part's rows as stored [rows, cols] (a view into the mapped file) */
    const StTensor *t; /* the whole matrix (for messages) */
    QParams *p;     /* the part's grid (shared by parts of one shape: its shape only is read) */
    int kind;       /* 0 embedding, 1 classifier, 2 + k linear k (the grid's kind) */
    char base[96];  /* the tensors' stem: "token_embd", "output", "blk.3.q" */
    int norms;      /* the block whose norms precede this job in the file, or -1 */
    int final_norm; /* output_norm precedes this job */
    int64_t row0;   /* the part's first row in the matrix (a multiple of 8: codes start on a byte) */
    int first, last; /* the matrix's first / last part */
    int matrix;     /* index of the matrix (its scales' slot in the ring) */
    int rows_chunk; /* rows per chunk: a multiple of 8, so every chunk's packed codes start on a byte */
    int fd;         /* the file holding v (read with pread), or -1: read through the map */
    int64_t off;    /* v's offset in it */
} Job;

enum { RING = 4, NKINDS = 2 + LLM_MAX_LINEARS }; /* jobs (and matrices) in flight: buffers taken in turn */

typedef struct Bufs { /* packed codes by job (part), scales and zero-points by matrix */
    uint8_t *qw[RING];
    uint16_t *sc[RING];
    uint8_t *zp[RING];
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

/* Rows [r0, r0 + nr) of job J's part read (into raw), widened into x, quantized, and packed:
 * qw the part's codes, sc / zp the matrix's scales / zero-points.  0; -1 when a weight is not
 * finite (the caller names it); -2 when the file could not be read. */
static int do_chunk(const Job *J, QParams *tp, int64_t r0, int64_t nr, uint8_t *raw, float *x, int8_t *q, uint8_t *qw,
                    uint16_t *sc, uint8_t *zp, KernIsa isa) {
    const QParams *p = J->p;
    const int64_t in = p->cols, n = nr * in, gpr = p->groups_per_row, u0 = (J->row0 + r0) * gpr;
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
    if (llm_rtn_rows_local(tp, x, 0, nr, q, sc + u0, isa) && q_check_finite(x, n, "", "", &e)) return -1;
    qpack(p->bits, q, n, qw + qpack_bytes(p->bits, r0 * in)); /* r0 * in * bits: whole bytes (r0 % 8 == 0) */
    if (!p->symmetric) {
        int8_t *z = q; /* the codes are packed: their buffer holds the zero-points now */
        for (int64_t u = 0; u < nr * gpr; u++) z[u] = (int8_t)tp->zero[u];
        qpack(p->bits, z, nr * gpr, zp + qpack_bytes(p->bits, u0));
    }
    return 0;
}

static int put(LlmQfileSink *o, const char *name, const void *data, size_t nbytes, QErr *err) {
    return llm_qfile_claim(o, name, nbytes, err) < 0 || qwriter_write(o->w, data, nbytes, err) ? -1 : 0;
}

/* Job J's bytes in the file: the part's packed codes (the matrix's .qweight claimed whole at its
 * first part), then after the last part the matrix's scales and zero-points, as
 * llm_qfile_put_quant writes them. */
static int put_job(LlmQfileSink *o, const Job *J, const uint8_t *qw, const uint16_t *sc, const uint8_t *zp, QErr *err) {
    const QParams *p = J->p;
    const int64_t rows = J->t->shape[0], cols = p->cols, n = rows * p->groups_per_row;
    char name[160];
    snprintf(name, sizeof name, "%s.qweight", J->base);
    if (J->first && llm_qfile_claim(o, name, qpack_bytes(p->bits, rows * cols), err) < 0) return -1;
    if (qwriter_write(o->w, qw, qpack_bytes(p->bits, p->rows * cols), err)) return -1;
    if (!J->last) return 0;
    snprintf(name, sizeof name, "%s.scale", J->base);
    if (put(o, name, sc, (size_t)n * 2, err)) return -1;
    if (p->symmetric) return 0;
    snprintf(name, sizeof name, "%s.zero", J->base);
    return put(o, name, zp, qpack_bytes(p->bits, n), err);
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

/* A chunk found a weight that is not finite: the whole matrix widened once more, so the error
 * names the element exactly as the block path's reader does. */
static int name_nonfinite(const StTensor *t, const LlmModel *m, QErr *err) {
    float *x = xmalloc((size_t)t->numel * sizeof(float));
    int rc = st_to_f32(t, x, err) || q_check_finite(x, t->numel, m->name, t->name, err) ? -1 : 0;
    free(x);
    return rc ? -1 : qerr_set(err, "internal: %s: a chunk was not finite but the tensor is", t->name);
}

/* The plan: every matrix's parts as jobs, with their grids (kinds: 0 embedding, 1 classifier,
 * 2 + k linear k; per kind one grid for full parts and one for a shorter last part). */
typedef struct Plan {
    LlmSource *src;
    const LlmModel *m;
    const LlmWQuant *s;
    int emb_bits;
    Job *jobs;
    int nj, maxj, nmat;
    StTensor *mats; /* [nmat] the whole matrices */
    QParams grids[2 * (2 + LLM_MAX_LINEARS)];
    int64_t part_elems; /* PART_ELEMS; QUANT_RTN_PART_ELEMS (tests): smaller, so small models have parts */
    QErr *err;
} Plan;

/* The grid of a [rows, cols] matrix of the kind (units lie within rows: any rows, the same units). */
static int grid_init(const Plan *P, int kind, int64_t rows, int64_t cols, QParams *g, QErr *err) {
    const LlmConfig *c = &P->m->c;
    if (kind == 0) return llm_emb_qparams(g, P->emb_bits, llm_qfile_emb_group(c, P->s, P->emb_bits), rows, cols, err);
    if (kind == 1) return llm_rtn_init(g, llm_qfile_head_bits(c, P->s), 1, LLM_QFILE_HEAD_GROUP, rows, cols, err);
    return llm_rtn_init(g, P->s->bits, P->s->symmetric, P->s->group_size, rows, cols, err);
}

static int grid(Plan *P, int kind, int last, int64_t rows, int64_t cols, QParams **out) {
    QParams *g = &P->grids[2 * kind + last];
    *out = g;
    return g->scale ? 0 : grid_init(P, kind, rows, cols, g, P->err); /* one shape per kind and position */
}

/* Rows per part of a [rows, cols] matrix: at most part_elems weights, a multiple of 8 rows. */
static int64_t part_rows_of(int64_t part_elems, int64_t rows, int64_t cols) {
    const int64_t r = part_elems / cols, pr = r < 8 ? 8 : r - r % 8;
    return pr < rows ? pr : rows;
}

/* Matrix `part` of block `layer` (or the embedding / classifier) as jobs; *bpw its bits per weight. */
static int plan_matrix(Plan *P, int kind, int layer, const char *part, const char *base, int norms, int final_norm, double *bpw) {
    StTensor *t = &P->mats[P->nmat];
    if (llm_source_view(P->src, P->m, layer, part, t)) return qerr_set(P->err, "internal: a tensor llm_rtn_stream_ok found is gone");
    const int64_t rows = t->shape[0], cols = t->shape[1], part_rows = part_rows_of(P->part_elems, rows, cols);
    const size_t es = st_dtype_size(t->dtype);
    for (int64_t r0 = 0; r0 < rows; r0 += part_rows) {
        const int64_t nr = rows - r0 < part_rows ? rows - r0 : part_rows;
        if (P->nj == P->maxj) return qerr_set(P->err, "internal: more parts than counted");
        Job *J = &P->jobs[P->nj++];
        *J = (Job){.t = t, .kind = kind, .norms = r0 == 0 ? norms : -1, .final_norm = r0 == 0 && final_norm, .row0 = r0,
                   .first = r0 == 0, .last = r0 + nr == rows, .matrix = P->nmat, .fd = -1};
        if (grid(P, kind, nr != part_rows, nr, cols, &J->p)) return -1;
        snprintf(J->base, sizeof J->base, "%s", base);
        J->v = *t;
        J->v.data = t->data + (size_t)(r0 * cols) * es;
        J->v.shape[0] = nr;
        J->v.numel = nr * cols;
        J->v.nbytes = (size_t)J->v.numel * es;
        const int64_t cr = CHUNK_ELEMS / cols;
        J->rows_chunk = (int)(cr < 8 ? 8 : cr - cr % 8);
        if (r0 == 0) *bpw = qparams_bits_per_weight(J->p); /* the same for any rows: n / (rows x cols) */
    }
    P->nmat++;
    return 0;
}

static int atomic_get(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void atomic_put(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

typedef struct WriteCtx {
    LlmQfileSink *o;
    LlmSource *src;
    const LlmModel *m;
    const LlmWQuant *s;
    const Job *jobs;
    int nj;
    const Bufs *bufs;
    float *tmp;
    QProgress *prog;
    QErr *err;
    int *left, *written, *writing, *fail;
} WriteCtx;

/* If no other thread holds the writer: every finished job not yet written, in order (the fp32
 * tensors before it, then its bytes).  1 when this thread wrote something. */
static int try_write(WriteCtx *w) {
    int expect = 0;
    if (!__atomic_compare_exchange_n(w->writing, &expect, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return 0;
    int did = 0, j;
    while ((j = atomic_get(w->written)) < w->nj && atomic_get(&w->left[j]) == 0 && !atomic_get(w->fail)) {
        const Job *J = &w->jobs[j];
        if (put_pre(w->o, w->src, w->m, J, w->tmp, w->err) ||
            put_job(w->o, J, w->bufs->qw[j % RING], w->bufs->sc[J->matrix % RING], w->bufs->zp[J->matrix % RING], w->err)) {
            atomic_put(w->fail, 2);
            break;
        }
        if (J->fd < 0) qmap_release(J->v.data, J->v.nbytes); /* read through the map: its pages, done */
        if (w->prog) {
            qprogress_frac(w->prog, (double)(j + 1) / w->nj);
            qprogress_update(w->prog, "streamed rtn w%d: %s (%d/%d)", w->s->bits, J->base, j + 1, w->nj);
        }
        atomic_put(w->written, j + 1);
        did = 1;
    }
    atomic_put(w->writing, 0);
    return did;
}

int llm_rtn_stream_write(LlmSource *src, const LlmModel *m, const LlmWQuant *s, int emb_bits, LlmQfileSink *o,
                         QProgress *prog, double *bits, double *weights, QErr *err) {
    const LlmConfig *c = &m->c;
    LlmLinearShape lin[LLM_MAX_LINEARS];
    const int nl = llm_block_shapes(c, lin), L = c->n_layers;
    int rc = -1, bad_job = -1, bad_kind = 0, nfd = 0, *fds = NULL;
    const char **fd_path = NULL;
    QParams *tgrids = NULL;
    int nth = 0;
    int64_t *first_chunk = NULL;
    int *left = NULL;
    Plan P = {.src = src, .m = m, .s = s, .emb_bits = emb_bits, .part_elems = PART_ELEMS, .err = err};
    const char *pe = getenv("QUANT_RTN_PART_ELEMS");
    if (pe && atoll(pe) > 0 && atoll(pe) < PART_ELEMS) P.part_elems = atoll(pe);
    P.mats = xcalloc((size_t)(2 + L * nl), sizeof *P.mats);
    /* the jobs: every matrix's parts */
    const int64_t V = c->vocab_size, pv = part_rows_of(P.part_elems, V, c->dim);
    int64_t maxj = 2 * ((V + pv - 1) / pv);
    for (int k = 0; k < nl; k++) {
        const int64_t pk = part_rows_of(P.part_elems, lin[k].out, lin[k].in);
        maxj += (int64_t)L * ((lin[k].out + pk - 1) / pk);
    }
    P.jobs = xcalloc((size_t)maxj, sizeof *P.jobs);
    P.maxj = (int)maxj;
    Bufs bufs;
    memset(&bufs, 0, sizeof bufs);
    float *tmp = xmalloc((size_t)c->dim * sizeof(float));
    double bpw;
    if (plan_matrix(&P, 0, 0, "embed", "token_embd", -1, 0, &bpw)) goto out;
    if (!c->shared_head && plan_matrix(&P, 1, 0, "head", "output", -1, 0, &bpw)) goto out;
    for (int l = 0; l < L; l++)
        for (int k = 0; k < nl; k++) {
            char base[96];
            snprintf(base, sizeof base, "blk.%d.%s", l, lin[k].name);
            if (plan_matrix(&P, 2 + k, l, lin[k].name, base, k == 0 ? l : -1, l == 0 && k == 0, &bpw)) goto out;
            const double e = (double)lin[k].out * lin[k].in;
            *bits += bpw * e;
            *weights += e;
        }
    const int nj = P.nj;
    Job *jobs = P.jobs;
    /* the files, each opened once, read with pread (a source that cannot say: through the map) */
    for (int j = 0; j < nj; j++) {
        Job *J = &jobs[j];
        const char *path = llm_source_view_file(src, &J->v, &J->off);
        if (!path) continue;
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
    /* the largest buffers any job needs */
    size_t max_qw = 0, max_sc = 0, max_zp = 0, max_chunk = 0;
    for (int j = 0; j < nj; j++) {
        const Job *J = &jobs[j];
        const int bits = J->p->bits;
        const int64_t cols = J->p->cols, n = J->t->shape[0] * J->p->groups_per_row;
        const size_t qw = qpack_bytes(bits, J->p->rows * cols), zp = qpack_bytes(bits, n), ch = (size_t)J->rows_chunk * (size_t)cols;
        max_qw = qw > max_qw ? qw : max_qw;
        max_sc = (size_t)n > max_sc ? (size_t)n : max_sc;
        max_zp = zp > max_zp ? zp : max_zp;
        max_chunk = ch > max_chunk ? ch : max_chunk;
    }
    for (int i = 0; i < RING; i++) {
        bufs.qw[i] = xmalloc(max_qw);
        bufs.sc[i] = xmalloc(max_sc * 2);
        bufs.zp[i] = xmalloc(max_zp);
    }
    const KernIsa isa = kern_isa_best();
    /* chunks numbered across all jobs: job j's are [first_chunk[j], first_chunk[j + 1]) */
    first_chunk = xmalloc((size_t)(nj + 1) * sizeof *first_chunk);
    left = xmalloc((size_t)nj * sizeof *left); /* chunks of job j not finished yet */
    first_chunk[0] = 0;
    for (int j = 0; j < nj; j++) {
        const int64_t rows = jobs[j].p->rows, R = jobs[j].rows_chunk;
        left[j] = (int)((rows + R - 1) / R);
        first_chunk[j + 1] = first_chunk[j] + left[j];
    }
    const int64_t nchunks = first_chunk[nj];
    /* each thread's grids, one per kind for a chunk's rows: the scales a chunk computes are its
     * own (parts of one matrix run at once, and share their job grid's shape only) */
    nth = omp_get_max_threads();
    tgrids = xcalloc((size_t)nth * NKINDS, sizeof *tgrids);
    for (int t = 0; t < nth; t++)
        for (int j = 0; j < nj; j++) {
            QParams *g = &tgrids[(size_t)t * NKINDS + jobs[j].kind];
            if (!g->scale && grid_init(&P, jobs[j].kind, jobs[j].rows_chunk, jobs[j].p->cols, g, err)) goto out;
        }
    int64_t next_chunk = 0; /* the next chunk to hand out */
    int written = 0;        /* jobs written (in order) */
    int writing = 0;        /* a thread holds the writer */
    int fail = 0;           /* 1: a chunk failed (bad_job, bad_kind); 2: writing failed (err set) */
    WriteCtx wc = {o, src, m, s, jobs, nj, &bufs, tmp, prog, err, left, &written, &writing, &fail};
    /* No barrier anywhere: a thread takes the next chunk (jobs in order), quantizes it, and
     * whichever thread finds the writer free writes every finished job in order.  A chunk of
     * job j waits only for job j - RING to be written (its buffers are reused). */
#pragma omp parallel
    {
        float *x = xmalloc(max_chunk * sizeof(float));
        uint8_t *raw = xmalloc(max_chunk * sizeof(float));
        int8_t *q = xmalloc(max_chunk);
        QParams *tg = tgrids + (size_t)omp_get_thread_num() * NKINDS;
        int j = 0;
        for (;;) {
            int64_t g;
#pragma omp atomic capture
            g = next_chunk++;
            if (g >= nchunks || atomic_get(&fail)) break;
            while (first_chunk[j + 1] <= g) j++;
            while (atomic_get(&written) <= j - RING && !atomic_get(&fail))
                if (!try_write(&wc)) sched_yield(); /* the writer is behind: help, or give the core away */
            const Job *J = &jobs[j];
            const int64_t r0 = (g - first_chunk[j]) * J->rows_chunk, nr = J->p->rows - r0 < J->rows_chunk ? J->p->rows - r0 : J->rows_chunk;
            QParams *tp = &tg[J->kind];
            const int bad = do_chunk(J, tp, r0, nr, raw, x, q, bufs.qw[j % RING], bufs.sc[J->matrix % RING], bufs.zp[J->matrix % RING], isa);
            if (bad) {
#pragma omp critical(rtn_stream_fail)
                if (bad_job < 0 && !atomic_get(&fail)) {
                    bad_job = j;
                    bad_kind = bad;
                    atomic_put(&fail, 1);
                }
            }
            __atomic_sub_fetch(&left[j], 1, __ATOMIC_RELEASE);
            try_write(&wc);
        }
        while (atomic_get(&written) < nj && !atomic_get(&fail))
            if (!try_write(&wc)) sched_yield();
        free(x);
        free(raw);
        free(q);
    }
    if (fail == 1 && bad_kind == -2) {
        int64_t off;
        rc = qerr_set(err, "%s: tensor '%s': read failed (the file changed while being read?)",
                      llm_source_view_file(src, &jobs[bad_job].v, &off), jobs[bad_job].t->name);
    } else if (fail == 1) {
        rc = name_nonfinite(jobs[bad_job].t, m, err);
    } else {
        rc = fail ? -1 : 0;
    }
out:
    for (int i = 0; i < RING; i++) {
        free(bufs.qw[i]);
        free(bufs.sc[i]);
        free(bufs.zp[i]);
    }
    for (int i = 0; i < nfd; i++) close(fds[i]);
    free(fds);
    free(fd_path);
    free(tmp);
    free(first_chunk);
    free(left);
    for (int i = 0; i < nth * NKINDS; i++) qparams_free(&tgrids[i]);
    free(tgrids);
    free(P.jobs);
    free(P.mats);
    for (size_t i = 0; i < sizeof P.grids / sizeof P.grids[0]; i++) qparams_free(&P.grids[i]);
    return rc;
}
