/* run.c — the ptq-llm job (llm_ptq_run.h). */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant/llm_open.h"
#include "quant/llm_ptq_run.h"

void llm_ptq_opts_default(LlmPtqOpts *o) {
    memset(o, 0, sizeof *o);
    o->seq_len = 256;
    o->calib_samples = 128;
    o->gen_samples = 384;
    o->seed = 0;
    o->act_bits = 8;
    o->outlier_threshold = 6.0f;
    o->emb_bits = 8;
    o->eval_fraction = 0.5;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static double kurtosis(const float *w, int64_t n) {
    double mu = 0, m2 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) mu += w[i];
    mu /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = w[i] - mu;
        m2 += d * d;
        m4 += d * d * d * d;
    }
    m2 /= (double)n;
    m4 /= (double)n;
    return m2 > 0 ? m4 / (m2 * m2) : 0;
}

/* Bytes of a file, or of the .safetensors files of a model directory (its weights). */
static size_t file_size(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return 0;
    if (!S_ISDIR(sb.st_mode)) return (size_t)sb.st_size;
    size_t total = 0;
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 12 || strcmp(e->d_name + n - 12, ".safetensors") != 0) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) total += (size_t)sb.st_size;
    }
    closedir(d);
    return total;
}

static int copy_file(const char *from, const char *to, QErr *err) {
    uint8_t *b;
    size_t n;
    if (qfile_read_all(from, &b, &n, err)) return -1;
    QWriter w;
    int rc = qwriter_open(&w, to, err);
    if (rc == 0) {
        rc = qwriter_write(&w, b, n, err);
        if (rc == 0) rc = qwriter_commit(&w, err);
        else qwriter_abort(&w);
    }
    free(b);
    return rc;
}

typedef struct Ctx {
    const LlmPtqOpts *o;
    Tokenizer *tok;
    const int32_t *eval_tokens;
    int64_t eval_n;
    LlmPplOpts ppl;
} Ctx;

static int evaluate(const Ctx *c, const LlmModel *m, LlmHook hook, void *hctx, double *ppl, LlmPplResult *res, QErr *err) {
    LlmPplResult r;
    if (llm_perplexity(m, c->tok, c->eval_tokens, c->eval_n, &c->ppl, hook, hctx, &r, err)) return -1;
    *ppl = r.ppl;
    if (res) *res = r;
    return 0;
}

int llm_ptq_run(const LlmPtqOpts *o, LlmPtqReport *r, QErr *err) {
    memset(r, 0, sizeof *r);
    double t_start = qtime_now();
    if (o->threads > 0) qthreads_set(o->threads);
    LlmModel m;
    Tokenizer *tok;
    if (llm_open(o->model, o->tokenizer, &m, &tok, err)) return -1;
    if (llm_has_packed(&m)) {
        qerr_set(err, "%s: already quantized (a quant-llm file); ptq-llm starts from an fp32/f16 model", o->model);
        tokenizer_free(tok);
        llm_free(&m);
        return -1;
    }
    int rc = -1;
    uint8_t *etext = NULL, *ctext = NULL;
    int32_t *etok = NULL, *ctok = NULL;
    int64_t en = 0, cn = 0;
    size_t elen, clen;
    LlmCalib calib = {0};
    LlmDistill dist = {0}; /* dist.teacher set: built */
    LlmActStats stats = {0};
    float **fpw = NULL;
    int n_lin = 0;
    if (m.c.n_layers > LLM_PTQ_MAX_LAYERS) {
        qerr_set(err, "%s: %d layers, at most %d supported", o->model, m.c.n_layers, LLM_PTQ_MAX_LAYERS);
        goto out;
    }
    r->n_layers = m.c.n_layers;
    snprintf(r->model_desc, sizeof r->model_desc, "%s: %s, %d layers, dim %d, ffn %d, heads %d/%d, vocab %d, %lld params",
             o->model, m.c.arch == LLM_ARCH_GPT2 ? "gpt2" : "llama", m.c.n_layers, m.c.dim, m.c.hidden_dim, m.c.n_heads,
             m.c.n_kv_heads, m.c.vocab_size, (long long)llm_n_params(&m));
    if (!o->eval_text) {
        qerr_set(err, "--eval-text FILE is required");
        goto out;
    }
    if (qfile_read_all(o->eval_text, &etext, &elen, err)) goto out;
    if (tokenizer_encode(tok, (const char *)etext, elen, tok->add_bos, &etok, &en, err)) goto out;
    const int S = o->seq_len;
    int shared = !o->calib_text || strcmp(o->calib_text, o->eval_text) == 0;
    int64_t eval_end = en, cal_lo = 0, cal_hi = 0;
    if (shared) {
        /* one file: evaluation on the first windows, calibration drawn from the tokens after them */
        int64_t nwin = (int64_t)(en * o->eval_fraction) / S;
        if (o->max_windows > 0 && nwin > o->max_windows) nwin = o->max_windows;
        eval_end = nwin * S;
        cal_lo = eval_end;
        cal_hi = en;
        ctok = etok;
        snprintf(r->calib_desc, sizeof r->calib_desc,
                 "%d windows of %d tokens at seeded random offsets in tokens [%lld, %lld) of %s (after the evaluation windows; never overlapping them)",
                 o->calib_samples, S, (long long)cal_lo, (long long)cal_hi, o->eval_text);
    } else {
        if (qfile_read_all(o->calib_text, &ctext, &clen, err)) goto out;
        if (tokenizer_encode(tok, (const char *)ctext, clen, tok->add_bos, &ctok, &cn, err)) goto out;
        cal_hi = cn;
        snprintf(r->calib_desc, sizeof r->calib_desc, "%d windows of %d tokens at seeded random offsets in %s",
                 o->calib_samples, S, o->calib_text);
    }
    if (llm_calib_sample(ctok, cal_lo, cal_hi, o->calib_samples, S, tok->bos_id, o->seed, &calib, err)) goto out;
    Ctx cx = {o, tok, etok, eval_end, {LLM_PPL_WINDOWS, S, 0, shared ? 0 : o->max_windows, 0}};
    llm_ppl_describe(&cx.ppl, tok, r->eval_desc, sizeof r->eval_desc);

    /* fp32 */
    for (int i = 0; i < LLM_PTQ_MAX_VARIANTS + 4; i++) { /* rows without tuning say so */
        r->rows[i].e2e_kl[0] = r->rows[i].e2e_kl[1] = -1;
        for (int l = 0; l < LLM_PTQ_MAX_LAYERS; l++) r->rows[i].tune_loss[l][0] = r->rows[i].tune_loss[l][1] = -1;
    }
    LlmPtqRow *row = &r->rows[r->n_rows++];
    snprintf(row->method, sizeof row->method, "fp32");
    row->wbits = row->abits = 32;
    row->group = -1;
    row->bpw = 32;
    row->bytes = file_size(o->model);
    double t0 = qtime_now();
    LlmPplResult pr;
    if (evaluate(&cx, &m, NULL, NULL, &row->ppl, &pr, err)) goto out;
    row->seconds = qtime_now() - t0;
    r->eval_windows = pr.windows;
    r->eval_tokens_scored = pr.tokens_scored;
    qlog("fp32: perplexity %.4f (%.1f s)", row->ppl, row->seconds);

    /* activation statistics of the fp32 model: the outlier report, static ranges */
    if (llm_act_stats_collect(&m, &calib, &stats, err)) goto out;
    for (int l = 0; l < m.c.n_layers; l++) {
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears(&m, l, lin);
        for (int s = 0; s < LLM_N_SITES; s++) {
            const LlmSiteStats *ss = &stats.s[l * LLM_N_SITES + s];
            LlmPtqOutlier *ou = &r->outliers[r->n_outliers++];
            ou->layer = l;
            ou->site = (LlmSite)s;
            float *sorted = xmalloc((size_t)ss->in * sizeof(float));
            memcpy(sorted, ss->absmax, (size_t)ss->in * sizeof(float));
            qsort(sorted, (size_t)ss->in, sizeof(float), cmp_float);
            ou->absmax = sorted[ss->in - 1];
            ou->median_channel_absmax = sorted[ss->in / 2];
            for (int i = 0; i < ss->in; i++) ou->channels_above += ss->absmax[i] > o->outlier_threshold;
            free(sorted);
            for (int k = 0; k < nl; k++)
                if (lin[k].site == (LlmSite)s) {
                    ou->weight_kurtosis = kurtosis(lin[k].w, (int64_t)lin[k].out * lin[k].in);
                    break;
                }
        }
    }

    if (o->save_dir && qmkdir_p(o->save_dir, err)) goto out;
    const char *base = strrchr(o->model, '/');
    base = base ? base + 1 : o->model;
    char stem[48];
    snprintf(stem, sizeof stem, "%.*s", (int)(strchr(base, '.') ? strchr(base, '.') - base : (long)strlen(base)), base);

    /* end-to-end tuning's data, from the fp32 model, once for every variant that tunes */
    for (int v = 0; v < o->n_variants && !dist.teacher; v++) {
        const LlmWQuant *s = &o->variants[v];
        if (s->method != LLM_Q_GPTQ || s->bits >= 8 || s->e2e_epochs < 1) continue;
        t0 = qtime_now();
        if (llm_distill_build(&m, &calib, o->gen_samples, tok->bos_id, tok->eos_id, o->seed ^ 0xD15711ull, &dist, err)) goto out;
        snprintf(r->distill_desc, sizeof r->distill_desc,
                 "the %d calibration windows and %d sampled from the fp32 model (temperature 1, each continuing the "
                 "first %d tokens of a calibration window, BOS/EOS never sampled); %.1f s",
                 calib.n, o->gen_samples, LLM_GEN_PREFIX, qtime_now() - t0);
        qlog("end-to-end tuning data: %d + %d windows (%.1f s)", calib.n, o->gen_samples, qtime_now() - t0);
    }

    /* weight-only variants: each on a fresh copy of the model */
    for (int v = 0; v < o->n_variants; v++) {
        const LlmWQuant *s = &o->variants[v];
        LlmModel mv;
        Tokenizer *tv;
        if (llm_open(o->model, o->tokenizer, &mv, &tv, err)) goto out;
        tokenizer_free(tv);
        LlmQuantized q;
        t0 = qtime_now();
        if (llm_quantize_model(&mv, &calib, dist.teacher ? &dist : NULL, s, o->emb_bits, &q, err)) {
            llm_free(&mv);
            goto out;
        }
        row = &r->rows[r->n_rows++];
        snprintf(row->method, sizeof row->method, "%s", s->method == LLM_Q_GPTQ ? "gptq" : "rtn");
        row->wbits = s->bits;
        row->abits = 32;
        row->group = s->group_size;
        row->bpw = llm_quantized_bits_per_weight(&q);
        for (int l = 0; l < m.c.n_layers; l++) {
            row->block_err[l] = q.block_err[l];
            row->tune_loss[l][0] = q.tune_loss[2 * l];
            row->tune_loss[l][1] = q.tune_loss[2 * l + 1];
        }
        row->e2e_kl[0] = q.e2e_kl[0];
        row->e2e_kl[1] = q.e2e_kl[1];
        int erc = evaluate(&cx, &mv, NULL, NULL, &row->ppl, NULL, err);
        row->seconds = qtime_now() - t0;
        char path[4096], fname[128];
        if (s->group_size > 0) snprintf(fname, sizeof fname, "%s-w%dg%lld-%s.safetensors", stem, s->bits, (long long)s->group_size, row->method);
        else snprintf(fname, sizeof fname, "%s-w%d-%s.safetensors", stem, s->bits, row->method);
        if (o->save_dir) snprintf(path, sizeof path, "%s/%s", o->save_dir, fname);
        else snprintf(path, sizeof path, "%s/quant-ptq-%ld-%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), fname);
        if (erc == 0) erc = llm_save_quantized(path, &mv, &q, base, err);
        if (erc == 0) {
            row->bytes = file_size(path);
            if (o->save_dir) snprintf(row->file, sizeof row->file, "%s", fname);
            else unlink(path);
        }
        qlog("%s w%d %s: perplexity %.4f, %.2f bits/weight (%.1f s)", row->method, s->bits,
             s->group_size > 0 ? "group" : "per-channel", row->ppl, row->bpw, row->seconds);
        llm_quantized_free(&q);
        llm_free(&mv);
        if (erc) goto out;
    }

    /* W8A8: 8-bit per-channel weights (RTN) and int8 activations */
    if (o->act_bits > 0) {
        LlmWQuant w8 = {LLM_Q_RTN, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0};
        /* fp32 weights kept for the decomposition variant */
        LlmLinear lin[LLM_MAX_LINEARS];
        fpw = xcalloc((size_t)m.c.n_layers * LLM_MAX_LINEARS, sizeof(float *));
        for (int l = 0; l < m.c.n_layers; l++) {
            int nl = llm_block_linears(&m, l, lin);
            for (int k = 0; k < nl; k++) {
                size_t nb = (size_t)lin[k].out * lin[k].in * sizeof(float);
                fpw[n_lin] = xmalloc(nb);
                memcpy(fpw[n_lin++], lin[k].w, nb);
            }
        }
        const char *names[3] = {"w8a8 token", "w8a8 tensor", "w8a8 int8()"};
        for (int mode = 0; mode < 3; mode++) {
            LlmModel mv;
            Tokenizer *tv;
            if (llm_open(o->model, o->tokenizer, &mv, &tv, err)) goto out;
            tokenizer_free(tv);
            t0 = qtime_now();
            LlmQuantized q;
            if (llm_quantize_model(&mv, &calib, NULL, &w8, o->emb_bits, &q, err)) {
                llm_free(&mv);
                goto out;
            }
            LlmActQuant aq = {mode == 1 ? LLM_ACT_STATIC : LLM_ACT_DYNAMIC, o->act_bits, &stats,
                              mode == 2 ? o->outlier_threshold : 0.0f};
            if (mode == 2) llm_int8_decompose_weights(&mv, (const float *const *)fpw, &stats, o->outlier_threshold);
            row = &r->rows[r->n_rows++];
            snprintf(row->method, sizeof row->method, "%s", names[mode]);
            row->wbits = 8;
            row->abits = o->act_bits;
            row->group = 0;
            row->bpw = llm_quantized_bits_per_weight(&q);
            for (int l = 0; l < m.c.n_layers; l++) row->block_err[l] = q.block_err[l];
            int erc = evaluate(&cx, &mv, llm_act_quant_hook, &aq, &row->ppl, NULL, err);
            row->seconds = qtime_now() - t0;
            row->bytes = 0;
            qlog("%s: perplexity %.4f (%.1f s)", names[mode], row->ppl, row->seconds);
            llm_quantized_free(&q);
            llm_free(&mv);
            if (erc) goto out;
        }
    }
    if (o->save_dir) {
        /* keep the tokenizer beside the saved models, where `quant eval` looks for it */
        const char *src = o->tokenizer ? o->tokenizer : qpath_is_dir(o->model) ? o->model : NULL;
        if (src && qpath_is_dir(src)) { /* Hugging Face files, under their own names */
            const char *names[] = {"tokenizer.json", "vocab.json", "merges.txt"};
            for (int i = 0; i < 3; i++) {
                char from[4200], to[4200];
                snprintf(from, sizeof from, "%s/%s", src, names[i]);
                snprintf(to, sizeof to, "%s/%s", o->save_dir, names[i]);
                if (qpath_exists(from) && copy_file(from, to, err)) goto out;
            }
        } else if (src) { /* one file: a tokenizer.json or a llama2.c tokenizer */
            char to[4200];
            if (llm_tokenizer_is_hf(src)) snprintf(to, sizeof to, "%s/tokenizer.json", o->save_dir);
            else snprintf(to, sizeof to, "%s/tok%d.bin", o->save_dir, m.c.vocab_size);
            if (copy_file(src, to, err)) goto out;
        }
    }
    r->total_seconds = qtime_now() - t_start;
    r->peak_rss = qpeak_rss_bytes();
    rc = 0;
out:
    for (int i = 0; i < n_lin; i++) free(fpw[i]);
    free(fpw);
    if (stats.s) llm_act_stats_free(&stats);
    llm_calib_free(&calib);
    llm_distill_free(&dist);
    if (ctok != etok) free(ctok);
    free(etok);
    free(etext);
    free(ctext);
    tokenizer_free(tok);
    llm_free(&m);
    return rc;
}
