/* run.c — the ptq-llm job (llm_ptq_run.h). */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant/llm_open.h"
#include "quant/llm_gguf.h"
#include "quant/llm_gptq_dir.h"
#include "quant/llm_ptq_run.h"
#include "quant/llm_stream.h"

void llm_ptq_opts_default(LlmPtqOpts *o) {
    memset(o, 0, sizeof *o);
    o->seq_len = 256;
    o->calib_samples = 128;
    o->gen_samples = 384;
    o->seed = 0;
    o->act_bits = 8;
    o->outlier_threshold = 6.0f;
    o->emb_bits = -1;
    o->head_bits = 8;
    o->eval_fraction = 0.5;
    o->smooth = 1;
    o->w8a8_group = 32;
    o->w8a8_refit = 1;
    o->w4a8 = 1;
    o->outlier_factor = 50.0f;
    o->preset = LLM_PRESET_DEFAULT;
    o->budget_minutes = -1;
    o->act_range = 1;
}

/* Every copy of the model goes through here: the outlier fixture, when asked for, is the same
 * fp32 function, so it is applied to each copy as it is opened. */
static int open_model(const LlmPtqOpts *o, LlmModel *m, Tokenizer **tok, LlmPtqReport *r, QErr *err) {
    /* a GGUF widened to fp32, whatever its types: ptq-llm requantizes the weights */
    if (llm_load_fp32(m, o->model, err)) return -1;
    if (llm_open_tokenizer(o->model, o->tokenizer, m, tok, err)) {
        llm_free(m);
        return -1;
    }
    if (llm_has_packed(m)) {
        qerr_set(err, "%s: already quantized (a quant-llm file); ptq-llm starts from an fp32/f16 model", o->model);
        tokenizer_free(*tok);
        llm_free(m);
        return -1;
    }
    if (o->outlier_channels > 0) {
        int ch[64];
        if (o->outlier_channels > 64) {
            llm_free(m);
            tokenizer_free(*tok);
            return qerr_set(err, "--inject-outliers: at most 64 channels");
        }
        if (llm_inject_outliers(m, o->outlier_channels, o->outlier_factor, o->seed, ch, err)) {
            llm_free(m);
            tokenizer_free(*tok);
            return -1;
        }
        if (r) {
            r->n_injected = o->outlier_channels;
            memcpy(r->injected, ch, (size_t)o->outlier_channels * sizeof(int));
        }
    }
    return 0;
}

static void scale_report(LlmPtqReport *r, const char *variant, int awq, const LlmScaleReport *s) {
    if (r->n_scales >= LLM_PTQ_MAX_SCALES) return;
    LlmPtqScale *x = &r->scales[r->n_scales++];
    snprintf(x->variant, sizeof x->variant, "%s", variant);
    x->awq = awq;
    memcpy(x->site, s->s, (size_t)s->n_layers * LLM_N_SITES * sizeof(LlmScaleSite));
}

/* The variant as a GGUF file (gptq = 0) or a GPTQ-layout directory: 0 saved, -1 + err when it
 * has no exact mapping onto that format. */
static int save_export(const char *path, int gptq, const LlmModel *m, const Tokenizer *tok, const char *tok_path,
                       const LlmQuantized *q, const char *name, QErr *err) {
    LlmQView *lin = xcalloc((size_t)m->c.n_layers * LLM_MAX_LINEARS, sizeof *lin);
    for (int l = 0, idx = 0; l < m->c.n_layers; l++) {
        LlmLinear tmp[LLM_MAX_LINEARS];
        int nl = llm_block_linears((LlmModel *)m, l, tmp);
        for (int k = 0; k < nl && idx < q->n; k++, idx++) lin[l * LLM_MAX_LINEARS + k] = (LlmQView){&q->lin[idx].p, q->lin[idx].codes};
    }
    LlmExportSource src = {m, tok, lin, {q->emb_codes ? &q->emb_p : NULL, q->emb_codes}, name, tok_path, NULL,
                           {q->head_codes ? &q->head_p : NULL, q->head_codes}};
    LlmGgufOpts go = {0};
    LlmExportReport rep;
    int rc = gptq ? llm_export_gptq(&src, path, &go, &rep, err) : llm_export_gguf(&src, path, &go, &rep, err);
    free(lin);
    return rc;
}

void llm_ptq_file_name(char *buf, size_t n, const char *stem, const LlmWQuant *s, const char *ext) {
    char group[32] = "";
    if (s->group_size > 0) snprintf(group, sizeof group, "g%lld", (long long)s->group_size);
    snprintf(buf, n, "%s-w%d%s-%s%s%s", stem, s->bits, group, llm_qmethod_name(s->method), s->symmetric ? "" : "-affine", ext);
}

int llm_ptq_emb_scheme(const LlmPtqOpts *o, const LlmConfig *c, int bits, LlmWQuant *w) {
    w->head_bits = o->head_bits;
    w->emb_group = 0;
    if (o->emb_bits >= 0) return o->emb_bits;
    if (c->shared_head) return 8;
    w->emb_group = 32;
    return bits < 4 ? 4 : bits;
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

/* A text given in memory (opts' *_data) or read from its file. */
static int read_text(const char *path, const uint8_t *data, size_t n, uint8_t **out, size_t *len, QErr *err) {
    if (!data) return qfile_read_all(path, out, len, err);
    *out = xmalloc(n + 1);
    memcpy(*out, data, n);
    (*out)[n] = 0;
    *len = n;
    return 0;
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

int llm_ptq_run(const LlmPtqOpts *o_in, LlmPtqReport *r, QErr *err) {
    memset(r, 0, sizeof *r);
    LlmPtqOpts oo = *o_in; /* the plan trims this copy */
    LlmPtqOpts *o = &oo;
    double t_start = qtime_now();
    if (o->threads > 0) qthreads_set(o->threads);
    LlmModel m;
    Tokenizer *tok;
    /* the one dispatch to the streamed path (stream_run.c): weights stay mapped, one block
     * in fp32 at a time */
    LlmSource *src = NULL;
    char why[160];
    int can_stream = llm_ptq_stream_plan(o, why, sizeof why);
    int64_t fp32_bytes = llm_stream_fp32_bytes(o->model);
    int64_t avail = qmem_available_bytes();
    int too_big = fp32_bytes > 0 && avail > 0 && fp32_bytes > avail / 2;
    if (o->stream > 0 && !can_stream) return qerr_set(err, "--stream True: %s", why);
    if (too_big && !can_stream && o->stream == 0)
        return qerr_set(err, "%s: the fp32 model (%.1f GB) does not fit in memory (%.1f GB available) and this plan "
                        "cannot stream: %s", o->model, fp32_bytes / 1e9, avail / 1e9, why);
    if (can_stream && o->stream >= 0) {
        if (llm_source_open(&src, &m, o->model, err)) return -1;
        if (llm_open_tokenizer(o->model, o->tokenizer, &m, &tok, err)) {
            llm_source_close(src, &m);
            return -1;
        }
        qlog("plan: streamed, block by block (%s); weights memory-mapped, one block in fp32 at a time", why);
    } else {
        if (open_model(o, &m, &tok, r, err)) return -1;
        qlog("plan: in memory (the fp32 model, %.1f GB)%s%s", llm_n_params(&m) * 4 / 1e9, can_stream ? "" : ": ",
             can_stream ? "" : why);
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
    if (read_text(o->eval_text, o->eval_data, o->eval_len, &etext, &elen, err)) goto out;
    if (tokenizer_encode(tok, (const char *)etext, elen, tok->add_bos, &etok, &en, err)) goto out;
    const int S = o->seq_len;
    int shared = !o->calib_text || strcmp(o->calib_text, o->eval_text) == 0;
    int64_t eval_end = en, cal_lo = 0, cal_hi = 0;
    /* the plan: which steps, how many windows, the estimated time; printed before starting */
    if (llm_ptq_plan(o, &m.c, shared ? (int64_t)(en * o->eval_fraction) / S : en / S, &r->plan)) goto out;
    if (o->on_plan) o->on_plan(&r->plan, o, o->on_plan_ctx);
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
        if (read_text(o->calib_text, o->calib_data, o->calib_len, &ctext, &clen, err)) goto out;
        if (tokenizer_encode(tok, (const char *)ctext, clen, tok->add_bos, &ctok, &cn, err)) goto out;
        cal_hi = cn;
        snprintf(r->calib_desc, sizeof r->calib_desc, "%d windows of %d tokens at seeded random offsets in %s",
                 o->calib_samples, S, o->calib_text);
    }
    if (!r->plan.calib_pass) {
        calib.seq_len = S; /* nothing needs calibration activations: none drawn */
        snprintf(r->calib_desc, sizeof r->calib_desc, "none (RTN only: no calibration pass)");
    } else if (llm_calib_sample(ctok, cal_lo, cal_hi, o->calib_samples, S, tok->bos_id, o->seed, &calib, err)) {
        goto out;
    }
    Ctx cx = {o, tok, etok, eval_end, {LLM_PPL_WINDOWS, S, 0, shared ? 0 : o->max_windows, 0}};
    llm_ppl_describe(&cx.ppl, tok, r->eval_desc, sizeof r->eval_desc);
    if (src) {
        for (int i = 0; i < LLM_PTQ_MAX_ROWS; i++) r->rows[i].e2e_kl[0] = r->rows[i].e2e_kl[1] = -1;
        for (int i = 0; i < LLM_PTQ_MAX_ROWS; i++)
            for (int l = 0; l < LLM_PTQ_MAX_LAYERS; l++) r->rows[i].tune_loss[l][0] = r->rows[i].tune_loss[l][1] = -1;
        if (llm_ptq_run_stream(o, src, &m, tok, etok, eval_end, &cx.ppl, &calib, r, err)) goto out;
        r->rows[0].bytes = file_size(o->model);
        goto tokenizer;
    }

    /* fp32 */
    for (int i = 0; i < LLM_PTQ_MAX_ROWS; i++) { /* rows without tuning say so */
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
    if (calib.n > 0 && llm_act_stats_collect(&m, &calib, &stats, err)) goto out;
    for (int l = 0; l < m.c.n_layers && calib.n > 0; l++) {
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
            /* the channels' magnitudes for the report, max-pooled to at most LLM_PTQ_CH_MAX values */
            ou->ch_pool = (ss->in + LLM_PTQ_CH_MAX - 1) / LLM_PTQ_CH_MAX;
            ou->n_ch = (ss->in + ou->ch_pool - 1) / ou->ch_pool;
            for (int i = 0; i < ss->in; i++)
                ou->ch_absmax[i / ou->ch_pool] = fmaxf(ou->ch_absmax[i / ou->ch_pool], ss->absmax[i]);
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
        if (!llm_qmethod_gptq(s->method) || s->bits >= 8 || s->e2e_epochs < 1) continue;
        t0 = qtime_now();
        if (llm_distill_build(&m, &calib, o->gen_samples, tok->bos_id, tok->eos_id, o->seed ^ 0xD15711ull, &dist, err)) goto out;
        snprintf(r->distill_desc, sizeof r->distill_desc,
                 "the %d calibration windows and %d sampled from the fp32 model (temperature 1, each continuing the "
                 "first %d tokens of a calibration window, BOS/EOS never sampled); %.1f s",
                 calib.n, o->gen_samples, LLM_GEN_PREFIX, qtime_now() - t0);
        qlog("end-to-end tuning data: %d + %d windows (%.1f s)", calib.n, o->gen_samples, qtime_now() - t0);
    }

    /* RTN's error report may run on the first windows only (the plan's report_windows) */
    LlmCalib rcal = calib;
    if (o->report_windows > 0 && rcal.n > o->report_windows) rcal.n = o->report_windows;
    /* weight-only variants: each on a fresh copy of the model */
    for (int v = 0; v < o->n_variants; v++) {
        LlmWQuant sv = o->variants[v];
        const LlmWQuant *s = &sv;
        const int emb_bits = llm_ptq_emb_scheme(o, &m.c, s->bits, &sv);
        LlmModel mv;
        Tokenizer *tv;
        if (open_model(o, &mv, &tv, NULL, err)) goto out;
        tokenizer_free(tv);
        LlmQuantized q;
        t0 = qtime_now();
        if (llm_quantize_model(&mv, s->method == LLM_Q_RTN ? &rcal : &calib, dist.teacher ? &dist : NULL, s, emb_bits, &q,
                               err)) {
            llm_free(&mv);
            goto out;
        }
        row = &r->rows[r->n_rows++];
        snprintf(row->method, sizeof row->method, "%s", llm_qmethod_name(s->method));
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
        const char *ext = o->save_format == 1 ? ".gguf" : o->save_format == 2 ? "" : ".safetensors";
        llm_ptq_file_name(fname, sizeof fname, stem, s, ext);
        if (o->save_dir) snprintf(path, sizeof path, "%s/%s", o->save_dir, fname);
        else snprintf(path, sizeof path, "%s/quant-ptq-%ld-%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), fname);
        int saved = 0;
        if (erc == 0 && o->save_format == 2 && !o->save_dir) {
            saved = 1; /* a directory: written only where --save asks for it */
        } else if (erc == 0 && o->save_format) {
            saved = save_export(path, o->save_format == 2, &mv, tok, o->tokenizer, &q, base, err);
            if (saved < 0) {
                qlog("not saved as %s: %s", o->save_format == 2 ? "GPTQ layout" : "GGUF", err->msg);
                err->msg[0] = 0;
            }
        } else if (erc == 0) {
            erc = llm_save_quantized(path, &mv, &q, base, err);
        }
        if (erc == 0 && saved == 0) {
            char st[4200];
            snprintf(st, sizeof st, "%s/model.safetensors", path);
            row->bytes = file_size(o->save_format == 2 ? st : path);
            row->file_bpw = llm_file_bits_per_param(row->bytes, llm_n_params(&m));
            if (o->save_dir) snprintf(row->file, sizeof row->file, "%s", fname);
            else unlink(path);
        }
        qlog("%s w%d %s: perplexity %.4f, %.2f bits/weight (linears), %.2f bits/parameter (the whole file) (%.1f s)",
             row->method, s->bits, s->group_size > 0 ? "group" : "per-channel", row->ppl, row->bpw, row->file_bpw, row->seconds);
        if (erc == 0 && q.awq) {
            char vn[32];
            snprintf(vn, sizeof vn, "%s w%d g%lld", row->method, s->bits, (long long)s->group_size);
            scale_report(r, vn, 1, q.awq);
        }
        if (erc == 0 && o->w4a8 && o->act_bits > 0 && s->bits == 4) {
            /* the same 4-bit weights with 8-bit per-token activations: what the integer decode
             * kernels would run */
            const LlmPtqRow *wrow = row;
            LlmActQuant aq = {LLM_ACT_DYNAMIC, o->act_bits, NULL, 0.0f};
            char mname[sizeof row->method];
            snprintf(mname, sizeof mname, "%.12s a8 token", wrow->method);
            row = &r->rows[r->n_rows++];
            *row = *wrow;
            memcpy(row->method, mname, sizeof mname);
            row->abits = o->act_bits;
            row->file[0] = 0;
            row->bytes = 0;
            t0 = qtime_now();
            erc = evaluate(&cx, &mv, llm_act_quant_hook, &aq, &row->ppl, NULL, err);
            row->seconds = qtime_now() - t0;
            qlog("%s: perplexity %.4f (%.1f s)", row->method, row->ppl, row->seconds);
        }
        llm_quantized_free(&q);
        llm_free(&mv);
        if (erc) goto out;
    }

    /* W8A8: 8-bit weights by GPTQ (with its refit; act-order, MSE ranges, the CLI's damp and ridge
     * defaults; the tied head's codes too) and int8 activations.  RTN weights alone lose +0.15%
     * on stories260K before any activation is rounded (docs/chapters/05b-outliers.md). */
    if (o->act_bits > 0) {
        LlmWQuant w8 = {LLM_Q_GPTQ, 8, o->w8a8_group, 1, 1, 0.01, 1, o->w8a8_refit, 0.001, 0, 0, 0, 0};
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
        const char *names[5] = {"w8a8 token", "w8a8 tensor", "w8a8 int8()", "sq w8a8 token", "sq w8a8 tensor"};
        float range_ratio[LLM_PTQ_MAX_LAYERS * LLM_N_SITES] = {0};
        for (int mode = 0; mode < (o->smooth ? 5 : 3); mode++) {
            LlmModel mv;
            Tokenizer *tv;
            if (open_model(o, &mv, &tv, NULL, err)) goto out;
            tokenizer_free(tv);
            t0 = qtime_now();
            LlmQuantized q;
            LlmActStats sst = {0};
            const LlmActStats *ust = &stats;
            if (mode >= 3) {
                /* SmoothQuant: alpha per site searched for this row's activation grid, folded;
                 * the static ranges are then those of the smoothed model */
                LlmScaleOpts so;
                llm_scale_opts_default(&so);
                so.t = (QSiteTarget){8, o->w8a8_group, 0, mode == 3 ? QACT_TOKEN : QACT_TENSOR, o->act_bits, 1.0f};
                so.max_rows = 8192; /* the alpha search runs the site's products once per grid point */
                LlmScaleReport sr;
                int src = llm_scale_model(&mv, &calib, &so, &sr, err);
                if (src == 0) src = llm_act_stats_collect(&mv, &calib, &sst, err);
                if (src) {
                    llm_free(&mv);
                    goto out;
                }
                for (int k = 0; k < sr.n_layers * LLM_N_SITES; k++) /* the searched static ranges */
                    if (mode == 4 && sr.s[k].folded && sr.s[k].aclip < 1) {
                        sst.s[k].lo = sr.s[k].alo;
                        sst.s[k].hi = sr.s[k].ahi;
                    }
                scale_report(r, names[mode], 0, &sr);
                llm_scale_report_free(&sr);
                ust = &sst;
            }
            if ((mode == 1 || mode == 4) && o->act_range) {
                /* the static ranges chosen on each site's output error, in the model this row
                 * runs (smoothed or not) before its weights are rounded */
                if (mode == 1) {
                    if (llm_act_stats_collect(&mv, &calib, &sst, err)) {
                        llm_free(&mv);
                        goto out;
                    }
                    ust = &sst;
                }
                if (llm_act_ranges_search(&mv, &calib, o->act_bits, LLM_ACT_RANGE_RATIOS, 0, &sst, range_ratio, err)) {
                    llm_act_stats_free(&sst);
                    llm_free(&mv);
                    goto out;
                }
            }
            LlmWQuant wm = w8;
            if (mode == 2) wm.method = LLM_Q_RTN; /* the decomposition re-quantizes the linears itself */
            const int wm_emb = llm_ptq_emb_scheme(o, &m.c, 8, &wm);
            if (llm_quantize_model(&mv, wm.method == LLM_Q_RTN ? &rcal : &calib, NULL, &wm, wm_emb, &q, err)) {
                llm_free(&mv);
                goto out;
            }
            LlmActQuant aq = {mode == 1 || mode == 4 ? LLM_ACT_STATIC : LLM_ACT_DYNAMIC, o->act_bits, ust,
                              mode == 2 ? o->outlier_threshold : 0.0f};
            if (mode == 2) llm_int8_decompose_weights(&mv, (const float *const *)fpw, &stats, o->outlier_threshold);
            row = &r->rows[r->n_rows++];
            snprintf(row->method, sizeof row->method, "%s", names[mode]);
            row->wbits = 8;
            row->abits = o->act_bits;
            row->group = mode == 2 ? 0 : o->w8a8_group; /* the decomposition re-quantizes per channel */
            row->bpw = llm_quantized_bits_per_weight(&q);
            for (int l = 0; l < m.c.n_layers; l++) row->block_err[l] = q.block_err[l];
            int erc = evaluate(&cx, &mv, llm_act_quant_hook, &aq, &row->ppl, NULL, err);
            row->seconds = qtime_now() - t0;
            row->bytes = 0;
            if (mode == 1 || mode == 4) {
                snprintf(row->act_range, sizeof row->act_range, "%s", o->act_range ? "search" : mode == 4 ? "min-max+clip" : "min-max");
                if (o->act_range) memcpy(row->range_ratio, range_ratio, sizeof row->range_ratio);
            }
            qlog("%s: perplexity %.4f (%.1f s)", names[mode], row->ppl, row->seconds);
            if (sst.s) llm_act_stats_free(&sst);
            llm_quantized_free(&q);
            llm_free(&mv);
            if (erc) goto out;
        }
    }
tokenizer:
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
    if (src) llm_source_close(src, &m);
    else llm_free(&m);
    return rc;
}
