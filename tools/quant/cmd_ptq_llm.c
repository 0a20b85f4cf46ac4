/* cmd_ptq_llm.c — `quant ptq-llm`: flags -> llm_ptq_run -> tables / JSON. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "dataset_arg.h"
#include "model_arg.h"
#include "quant/kernels.h"
#include "quant/llm_gguf.h"
#include "quant/llm_ptq_run.h"
#include "quant/report.h"

static const char *usage =
    "usage: quant ptq-llm (--model PATH | --model_name NAME) [--tokenizer FILE] [--eval-text FILE] [--calib-text FILE]\n"
    "         (no text named: WikiText-2 raw from the Hub, evaluation on its test split, calibration on its train split;\n"
    "          [--dataset Salesforce/wikitext] [--dataset-config wikitext-2-raw-v1] [--dataset-revision main] [--dataset-join raw|guide])\n"
    "         [--preset fast|default|best] [--budget-minutes N (default: fast 5, default 10, best 60; 0: no limit)]\n"
    "         [--seq-len 256] [--calib-samples 128] [--seed 0] [--method LIST of rtn|gptq|awq|awq+gptq] [--bits 8,4,3,2]\n"
    "         [--gen-samples 384 (windows sampled from the fp32 model for end-to-end tuning)]\n"
    "         [--group-size 32,32,32,16 (0 = per channel; one value or one per bit width)] [--affine]\n"
    "         (without --method, --bits and --group-size: the default variants below; with any of them, every\n"
    "          method at every width, --method defaulting to rtn,awq,gptq)\n"
    "         [--act-order True|False (GPTQ, default True)] [--mse-clip True|False (GPTQ, default True)] [--damp 0.01]\n"
    "         [--refit True|False (GPTQ: refit to the quantized inputs first)] [--refit-ridge 0.001]\n"
    "         [--tune-epochs 2 (GPTQ < 8 bits: block-wise scale/norm tuning)] [--e2e-epochs 1 (then end to end, KL to fp32)]\n"
    "         [--act-bits 8 (0: no W8A8 rows)] [--outlier-threshold 6.0]\n"
    "         [--emb-bits N (default 8 per row when the head is tied, else the weights' width >= 4 in groups of 32; 0: fp32)]\n"
    "         [--head-bits 8 (an untied classifier, groups of 32; 0: fp32)]\n"
    "         [--w8a8-group 32 (W8A8 weight groups; 0 = per channel)] [--smooth True|False (SmoothQuant W8A8 rows)] [--w4a8 True|False (4-bit rows also with 8-bit activations)]\n"
    "         [--act-range search|min-max (per-tensor W8A8 ranges: chosen on each linear's output error, or calibration min-max)]\n"
    "         [--inject-outliers CxF (the outlier fixture: C norm channels x F, the next columns / F; e.g. 4x50)]\n"
    "         [--eval-fraction 0.5] [--max-windows N (default: what the budget allows; 0: all)] [--save DIR]\n"
    "         [--save-format quant|gguf|gptq] [--threads N] [--json FILE]\n"
    "         [--stream auto|True|False (block by block from the mapped file; auto: when the plan allows)]\n"
    "         [--report FILE.html [--compare ANCHORS.json (reference points, docs/formats.md)]]\n";

static int parse_method(const char *s, LlmQMethod *m, QErr *err) {
    if (strcmp(s, "rtn") == 0) *m = LLM_Q_RTN;
    else if (strcmp(s, "gptq") == 0) *m = LLM_Q_GPTQ;
    else if (strcmp(s, "awq") == 0) *m = LLM_Q_AWQ;
    else if (strcmp(s, "awq+gptq") == 0) *m = LLM_Q_AWQ_GPTQ;
    else return qerr_set(err, "--method %s: expected rtn, gptq, awq or awq+gptq", s);
    return 0;
}

static const char *site_name(LlmSite s) {
    static const char *n[] = {"attn-in (q,k,v)", "attn-out (o)", "ffn-in (gate,up)", "ffn-down"};
    return n[s];
}

/* an array of the input channels' max|x| (4 significant digits), pooled as the report keeps them */
static void llm_ptq_json_ch(cJSON *x, const char *key, const float *v, int n) {
    cJSON *ch = cJSON_AddArrayToObject(x, key);
    for (int i = 0; i < n; i++) {
        char b[32];
        snprintf(b, sizeof b, "%.4g", v[i]);
        cJSON_AddItemToArray(ch, cJSON_CreateNumber(strtod(b, NULL)));
    }
}
static void llm_ptq_json_channels(cJSON *x, const LlmPtqOutlier *u) {
    llm_ptq_json_ch(x, "channel_absmax", u->ch_absmax, u->n_ch);
    cJSON_AddNumberToObject(x, "channels_per_value", u->ch_pool);
}

/* The plan, before anything long starts: on stdout, before the results (logs keep it). */
static void plan_print(const LlmPtqPlan *p, const LlmPtqOpts *o, void *ctx) {
    (void)ctx;
    const int S = o->seq_len;
    char b[32], bud[48] = "no budget";
    qprogress_fmt_seconds(p->est_seconds, b, sizeof b);
    if (p->budget_seconds > 0) snprintf(bud, sizeof bud, "budget %.0f min", p->budget_seconds / 60);
    printf("plan: preset %s, %s (--preset fast|default|best, --budget-minutes N); estimated %s at a nominal %.0f GFLOP/s\n",
         llm_preset_name(p->preset), bud, b, p->gflops);
    if (p->calib_pass) printf("  calibration: %d windows of %d tokens\n", o->calib_samples, S);
    else printf("  calibration: none (RTN only, no report that needs it)\n");
    printf("  evaluation: %lld windows of %d tokens per row (the text holds %lld; --max-windows 0 for all)\n",
         (long long)p->eval_windows, S, (long long)p->eval_available);
    for (int i = 0; i < p->n_steps; i++) {
        qprogress_fmt_seconds(p->steps[i].seconds, b, sizeof b);
        printf("  %-26s ~%s\n", p->steps[i].name, b);
    }
    if (p->trimmed[0]) printf("  left out to fit the budget: %s\n", p->trimmed);
    fflush(stdout);
}

int cmd_ptq_llm(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        fputs(usage, stdout);
        const LlmPreset ps[] = {LLM_PRESET_DEFAULT, LLM_PRESET_FAST};
        for (int k = 0; k < 2; k++) { /* best: the default's rows with twice the tuning */
            LlmWQuant tmpl = {0}, vs[LLM_PTQ_MAX_VARIANTS];
            int n = llm_preset_variants(ps[k], &tmpl, vs, LLM_PTQ_MAX_VARIANTS);
            printf("%s variants (method W bits/group):", k ? "fast preset's" : "default (and best)");
            for (int i = 0; i < n; i++) printf(" %s %d/%lld", llm_qmethod_name(vs[i].method), vs[i].bits, (long long)vs[i].group_size);
            printf("\n");
        }
        return 0;
    }
    LlmPtqOpts o;
    llm_ptq_opts_default(&o);
    o.on_plan = plan_print;
    ModelArg ma;
    model_arg_read(a, &ma);
    o.tokenizer = args_str(a, "tokenizer", NULL);
    o.eval_text = args_str(a, "eval-text", NULL);
    o.calib_text = args_str(a, "calib-text", NULL);
    DatasetArg da;
    DatasetText dt[2]; /* evaluation (test split), calibration (train split) when no file is named */
    dataset_arg_read(a, &da);
    memset(dt, 0, sizeof dt);
    const char *preset = args_str(a, "preset", "default");
    if (llm_preset_parse(preset, &o.preset, err)) return 2;
    if (args_double(a, "budget-minutes", -1, 0, 1e6, &o.budget_minutes, err)) return 2;
    static const struct { const char *flag; unsigned bit; } given[] = {
        {"method", LLM_GIVEN_VARIANTS}, {"bits", LLM_GIVEN_VARIANTS}, {"group-size", LLM_GIVEN_VARIANTS},
        {"calib-samples", LLM_GIVEN_CALIB}, {"gen-samples", LLM_GIVEN_GEN}, {"tune-epochs", LLM_GIVEN_TUNE},
        {"e2e-epochs", LLM_GIVEN_E2E}, {"max-windows", LLM_GIVEN_WINDOWS}, {"act-bits", LLM_GIVEN_ACT},
        {"smooth", LLM_GIVEN_SMOOTH}, {"w4a8", LLM_GIVEN_W4A8}, {"refit", LLM_GIVEN_REFIT}};
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
        if (args_has(a, given[i].flag)) o.given |= given[i].bit;
    const int fast = o.preset == LLM_PRESET_FAST;
    long v, *bits = NULL, *groups = NULL;
    int nb = 0, ng = 0, nm = 0;
    double d;
    char **methods = NULL;
    if (args_int(a, "seq-len", 256, 2, 1 << 20, &v, err)) return 2;
    o.seq_len = (int)v;
    if (args_int(a, "calib-samples", 128, 1, 1 << 20, &v, err)) return 2;
    o.calib_samples = (int)v;
    if (args_int(a, "gen-samples", 384, 0, 1 << 20, &v, err)) return 2;
    o.gen_samples = (int)v;
    if (args_int(a, "seed", 0, 0, 2147483647L, &v, err)) return 2;
    o.seed = (uint64_t)v;
    if (args_int(a, "act-bits", fast ? 0 : 8, 0, 8, &v, err)) return 2;
    if (v != 0 && v != 8) return qerr_set(err, "--act-bits: only 8 (or 0 to skip W8A8) is supported"), 2;
    o.act_bits = (int)v;
    if (args_double(a, "outlier-threshold", 6.0, 0.0, 1e9, &d, err)) return 2;
    o.outlier_threshold = (float)d;
    if (args_int(a, "emb-bits", -1, -1, 8, &v, err)) return 2;
    if (v == 1) return qerr_set(err, "--emb-bits: 0 (fp32) or 2..8"), 2;
    o.emb_bits = (int)v;
    if (args_int(a, "head-bits", 8, 0, 8, &v, err)) return 2;
    if (v == 1) return qerr_set(err, "--head-bits: 0 (fp32) or 2..8"), 2;
    o.head_bits = (int)v;
    if (args_double(a, "eval-fraction", 0.5, 0.01, 0.99, &o.eval_fraction, err)) return 2;
    if (args_int(a, "max-windows", 0, 0, 1L << 40, &v, err)) return 2;
    o.max_windows = v;
    if (args_int(a, "w8a8-group", 32, 0, 1 << 20, &v, err)) return 2;
    o.w8a8_group = v;
    if (args_int(a, "threads", 0, 0, 1024, &v, err)) return 2;
    o.threads = (int)v;
    int affine, act_order, mse, refit;
    if (args_bool(a, "affine", 0, &affine, err) || args_bool(a, "act-order", 1, &act_order, err) ||
        args_bool(a, "mse-clip", 1, &mse, err) || args_bool(a, "refit", 1, &refit, err) ||
        args_bool(a, "smooth", !fast, &o.smooth, err) || args_bool(a, "w4a8", !fast, &o.w4a8, err))
        return 2;
    const char *arange = args_str(a, "act-range", "search"); /* static per-tensor W8A8 ranges */
    if (strcmp(arange, "search") && strcmp(arange, "min-max"))
        return qerr_set(err, "--act-range %s: expected search or min-max", arange), 2;
    o.act_range = !strcmp(arange, "search");
    const char *stream = args_str(a, "stream", "auto"); /* streamed block by block (llm_stream.h) */
    if (strcmp(stream, "auto") && strcmp(stream, "True") && strcmp(stream, "False"))
        return qerr_set(err, "--stream %s: expected auto, True or False", stream), 2;
    o.stream = !strcmp(stream, "True") ? 1 : !strcmp(stream, "False") ? -1 : 0;
    const char *inj = args_str(a, "inject-outliers", NULL);
    if (inj) {
        char *end;
        long ch = strtol(inj, &end, 10);
        double f = *end == 'x' ? strtod(end + 1, &end) : 0;
        if (*end || ch < 1 || ch > 64 || !(f > 0) || f > 1e6)
            return qerr_set(err, "--inject-outliers %s: expected CxF, 1 <= C <= 64 channels, factor F > 0 (e.g. 4x50)", inj), 2;
        o.outlier_channels = (int)ch;
        o.outlier_factor = (float)f;
    }
    double ridge;
    if (args_double(a, "refit-ridge", 0.001, 0.0, 100.0, &ridge, err)) return 2;
    if (args_int(a, "tune-epochs", 2, 0, 1000, &v, err)) return 2;
    int tune = (int)v;
    if (args_int(a, "e2e-epochs", 1, 0, 1000, &v, err)) return 2;
    int e2e = (int)v;
    double damp;
    if (args_double(a, "damp", 0.01, 1e-6, 10.0, &damp, err)) return 2;
    o.save_dir = args_str(a, "save", NULL);
    const char *sfmt = args_str(a, "save-format", "quant");
    if (strcmp(sfmt, "quant") != 0 && strcmp(sfmt, "gguf") != 0 && strcmp(sfmt, "gptq") != 0)
        return qerr_set(err, "--save-format %s: expected quant, gguf or gptq", sfmt), 2;
    o.save_format = strcmp(sfmt, "gguf") == 0 ? 1 : strcmp(sfmt, "gptq") == 0 ? 2 : 0;
    const char *json = args_str(a, "json", NULL), *report = args_str(a, "report", NULL), *compare = args_str(a, "compare", NULL);
    cJSON *anchors = NULL;
    if (args_str_list(a, "method", "rtn,awq,gptq", &methods, &nm, err)) return 2;
    int rc = 2;
    if (args_int_list(a, "bits", "8,4,3,2", 2, 8, &bits, &nb, err)) goto done;
    if (args_int_list(a, "group-size", args_has(a, "bits") ? "32" : "32,32,32,16", 0, 1 << 20, &groups, &ng, err)) goto done;
    if (ng != 1 && ng != nb) {
        qerr_set(err, "--group-size: give one value or one per bit width (%d)", nb);
        goto done;
    }
    if (!(o.given & LLM_GIVEN_VARIANTS)) { /* the preset's rows of the one table of default variants (plan.c) */
        LlmWQuant tmpl = {LLM_Q_RTN, 8, 32, !affine, act_order, damp, mse, refit, ridge, tune, e2e, 0, 0};
        o.n_variants = llm_preset_variants(o.preset, &tmpl, o.variants, LLM_PTQ_MAX_VARIANTS);
        for (int i = 0; i < o.n_variants; i++) { /* epochs the user gave are kept as given */
            if (o.given & LLM_GIVEN_TUNE) o.variants[i].tune_epochs = tune;
            if (o.given & LLM_GIVEN_E2E) o.variants[i].e2e_epochs = e2e;
        }
        args_free_list(methods, nm); /* the lists parsed above only validated the defaults */
        methods = NULL;
        nm = 0;
    }
    for (int i = 0; i < nm; i++) {
        LlmQMethod meth = LLM_Q_RTN;
        if (parse_method(methods[i], &meth, err)) goto done;
        for (int b = 0; b < nb; b++) {
            if (o.n_variants >= LLM_PTQ_MAX_VARIANTS) {
                qerr_set(err, "too many variants (at most %d)", LLM_PTQ_MAX_VARIANTS);
                goto done;
            }
            LlmWQuant w = {meth, (int)bits[b], ng == 1 ? groups[0] : groups[b], !affine, act_order, damp, mse, refit, ridge, tune, e2e, 0, 0};
            o.variants[o.n_variants++] = w;
        }
    }
    if (args_finish(a, err)) goto done;
    if (compare && !report) {
        qerr_set(err, "--compare FILE needs --report FILE.html");
        goto done;
    }
    if (compare && report_read_json(compare, &anchors, err)) goto done; /* before the long run */
    if (dataset_arg_check(&da, err)) goto done;
    const int ds_eval = !o.eval_text, ds_calib = !o.eval_text && !o.calib_text;
    if (da.given && !ds_eval) {
        qerr_set(err, "--dataset*: --eval-text names the text, so no dataset is read");
        goto done;
    }
    if (model_arg_resolve(&ma, &o.model, err)) {
        rc = 1;
        goto done;
    }
    if (!o.model) {
        qerr_set(err, "--model PATH or --model_name NAME is required");
        goto done;
    }
    for (int k = 0; k < 2; k++) { /* the texts the seed's command expects when none is named */
        if (!(k == 0 ? ds_eval : ds_calib)) continue;
        if (dataset_arg_text(&da, k == 0 ? "test" : "train", &dt[k], err)) {
            rc = 1;
            goto done;
        }
        char line[2048];
        dataset_text_describe(&da, &dt[k], k == 0 ? "evaluation" : "calibration", line, sizeof line);
        qlog("%s", line);
        if (k == 0) o.eval_text = dt[k].name, o.eval_data = dt[k].text, o.eval_len = dt[k].len;
        else o.calib_text = dt[k].name, o.calib_data = dt[k].text, o.calib_len = dt[k].len;
    }
    char qtypes[128];
    int nq = llm_gguf_quantized_tensors(o.model, qtypes, sizeof qtypes);
    if (nq > 0)
        qlog("note: %s is already quantized (%s): those weights are dequantized to fp32 and quantized again, so the "
             "fp32 row is the quantized model and the errors of both quantizations add up", o.model, qtypes);
    LlmPtqReport *r = xcalloc(1, sizeof *r);
    rc = llm_ptq_run(&o, r, err) ? 1 : 0;
    if (rc) {
        free(r);
        goto done;
    }
    printf("model        %s\n", r->model_desc);
    printf("fp32 GEMM    %s\n", kern_gemm_choice()->why);
    if (r->n_injected) {
        printf("outliers     injected (fp32 function unchanged): norm weight channels");
        for (int i = 0; i < r->n_injected; i++) printf(" %d", r->injected[i]);
        printf(" x %g in every block, the matching q/k/v/gate/up columns / %g\n", o.outlier_factor, o.outlier_factor);
    }
    printf("evaluation   %s: %s; %lld windows, %lld tokens scored\n", o.eval_text, r->eval_desc, (long long)r->eval_windows,
           (long long)r->eval_tokens_scored);
    /* a GGUF runs its Q4_0 / Q8_0 / Q4_K / Q6_K linears packed in eval; ptq-llm's fp32 row is
     * their exact dequantization */
    const char *ref = o.model && gguf_detect(o.model) ? " --kernels ref" : "";
    if (ds_eval)
        printf("             (reproduce the fp32 row: quant download --dataset %s --dataset-config %s --dataset-revision %s --split test "
               "--dataset-join %s --text-out T; quant eval --model %s%s --text T --seq-len %d --max-windows %lld)\n",
               da.repo, da.config, dt[0].split.commit, da.join_s, o.model, ref, o.seq_len, (long long)r->eval_windows);
    else
        printf("             (reproduce the fp32 row: quant eval --model %s%s --text %s --seq-len %d --max-windows %lld)\n", o.model,
               ref, o.eval_text, o.seq_len, (long long)r->eval_windows);
    for (int k = 0; k < 2; k++)
        if (dt[k].text) {
            char line[2048];
            dataset_text_describe(&da, &dt[k], k == 0 ? "evaluation" : "calibration", line, sizeof line);
            printf("data         %s\n", line);
        }
    printf("calibration  %s\n", r->calib_desc);
    if (r->distill_desc[0]) printf("end-to-end   %s\n", r->distill_desc);
    if (o.emb_bits == 0) printf("embedding    fp32\n");
    else if (o.emb_bits > 0) printf("embedding    %d-bit per row in every quantized row (the head too when tied)\n", o.emb_bits);
    else printf("embedding    8-bit per row when the head is tied to it, else the weights' width (>= 4) in groups of 32\n");
    printf("classifier   %s\n\n", o.head_bits ? "an untied head in groups of 32 (8 bits: Q8_0 blocks); a tied head is the embedding, stored once"
                                                 : "an untied head in fp32");
    printf("plan         preset %s; %s\n", llm_preset_name(r->plan.preset),
           r->plan.trimmed[0] ? r->plan.trimmed : "nothing left out");
    printf("             (bits/weight: the linears with their scales; bits/param: 8 x every byte of the saved file / every parameter)\n\n");
    const char *hdr[] = {"method", "W bits", "group", "A bits", "bits/weight", "bits/param", "size on disk", "perplexity",
                         "vs fp32", "seconds"};
    QTable t;
    qtable_init(&t, 10, hdr);
    for (int c = 1; c < 10; c++) qtable_align_right(&t, c, 1);
    double fp = r->rows[0].ppl;
    for (int i = 0; i < r->n_rows; i++) {
        const LlmPtqRow *w = &r->rows[i];
        qtable_new_row(&t);
        qtable_cell(&t, "%s", w->method);
        qtable_cell(&t, w->wbits == 32 ? "fp32" : "%d", w->wbits);
        if (w->group < 0) qtable_cell(&t, "-");
        else if (w->group == 0) qtable_cell(&t, "channel");
        else qtable_cell(&t, "%lld", (long long)w->group);
        qtable_cell(&t, w->abits == 32 ? "fp32" : "%d", w->abits);
        qtable_cell(&t, "%.3f", w->bpw);
        if (w->bytes && i > 0) qtable_cell(&t, "%.3f", w->file_bpw);
        else qtable_cell(&t, "-");
        if (w->bytes) qtable_cell(&t, "%zu", w->bytes);
        else qtable_cell(&t, "-");
        qtable_cell(&t, "%.4f", w->ppl);
        qtable_cell(&t, i == 0 ? "-" : "%+.2f%%", 100 * (w->ppl / fp - 1));
        qtable_cell(&t, "%.1f", w->seconds);
    }
    qtable_print(&t, stdout);
    for (int i = 0; i < r->n_rows; i++) /* which calibration the static rows ran */
        if (r->rows[i].act_range[0]) {
            const LlmPtqRow *w = &r->rows[i];
            printf("%-15s static int8 ranges: %s", w->method,
                   !strcmp(w->act_range, "search") ? "chosen on each linear input's output error (--act-range search); share of min-max kept per block, inputs of qkv/o/gate-up/down:"
                                                   : !strcmp(w->act_range, "min-max") ? "calibration min-max (--act-range min-max)"
                                                   : "calibration min-max, or the SmoothQuant search's fraction of it (--act-range min-max)");
            for (int l = 0; !strcmp(w->act_range, "search") && l < r->n_layers; l++) {
                printf(" ");
                for (int s = 0; s < LLM_N_SITES; s++) printf("%s%.2f", s ? "/" : "", w->range_ratio[l * LLM_N_SITES + s]);
            }
            printf("\n");
        }
    qtable_free(&t);

    printf("\nWhy LLMs are hard (1): outliers — per layer input, over the calibration windows%s\n",
           r->n_outliers ? "" : " (not measured: no calibration pass)");
    const char *h2[] = {"layer", "input of", "max|x|", "median channel max|x|", "ratio", "channels > thr", "weight kurtosis"};
    qtable_init(&t, 7, h2);
    for (int c = 2; c < 7; c++) qtable_align_right(&t, c, 1);
    for (int i = 0; i < r->n_outliers; i++) {
        const LlmPtqOutlier *u = &r->outliers[i];
        qtable_new_row(&t);
        qtable_cell(&t, "%d", u->layer);
        qtable_cell(&t, "%s", site_name(u->site));
        qtable_cell(&t, "%.3f", u->absmax);
        qtable_cell(&t, "%.3f", u->median_channel_absmax);
        qtable_cell(&t, "%.1f", u->median_channel_absmax > 0 ? u->absmax / u->median_channel_absmax : 0);
        qtable_cell(&t, "%d", u->channels_above);
        qtable_cell(&t, "%.2f", u->weight_kurtosis);
    }
    qtable_print(&t, stdout);
    printf("(threshold %.1f; Gaussian weights have kurtosis 3)\n", o.outlier_threshold);
    for (int v = 0; v < r->n_scales; v++) {
        const LlmPtqScale *sc = &r->scales[v];
        printf("\n%s: %s per site — channel max|x| (max / median over channels) before -> after, and the site's "
               "relative output error without -> with the scales\n",
               sc->variant, sc->awq ? "AWQ power p (s = mean|x|^p) and clipping" : "SmoothQuant alpha");
        const char *h4[] = {"layer", "input of", sc->awq ? "p" : "alpha", "max before", "median before", "max after",
                            "median after", "error none", "error chosen", sc->awq ? "mean clip" : "A range", "int8() channels"};
        qtable_init(&t, 11, h4);
        for (int c = 2; c < 11; c++) qtable_align_right(&t, c, 1);
        for (int l = 0; l < r->n_layers; l++)
            for (int si = 0; si < LLM_N_SITES; si++) {
                const LlmScaleSite *x = &sc->site[l * LLM_N_SITES + si];
                qtable_new_row(&t);
                qtable_cell(&t, "%d", l);
                qtable_cell(&t, "%s", site_name((LlmSite)si));
                if (!x->folded) qtable_cell(&t, "not exact");
                else if (x->v < 0) qtable_cell(&t, "none");
                else qtable_cell(&t, "%.2f", x->v);
                qtable_cell(&t, "%.3f", x->max_before);
                qtable_cell(&t, "%.3f", x->med_before);
                qtable_cell(&t, "%.3f", x->max_after);
                qtable_cell(&t, "%.3f", x->med_after);
                if (x->folded) {
                    qtable_cell(&t, "%.2e", x->err_none);
                    qtable_cell(&t, "%.2e", x->err_best);
                } else {
                    qtable_cell(&t, "-");
                    qtable_cell(&t, "-");
                }
                qtable_cell(&t, "%.3f", sc->awq ? x->clip_mean : x->aclip);
                qtable_cell(&t, "%d", r->outliers[l * LLM_N_SITES + si].channels_above);
            }
        qtable_print(&t, stdout);
        qtable_free(&t);
    }
    if (r->n_scales)
        printf("(A range: per-tensor static activation range chosen as a fraction of the smoothed input's min-max; mean clip: "
               "AWQ's mean weight-range ratio; int8() channels: input channels LLM.int8() keeps in floating point, max|x| > %.1f "
               "in the unsmoothed model; GPT-2's ffn-down is not folded: GELU is not homogeneous)\n",
               o.outlier_threshold);

    printf("\nWhy LLMs are hard (2): error accumulates — relative error ||y_q - y|| / ||y|| of the hidden state after each block\n");
    int ncols = 1 + r->n_layers;
    const char **h3 = xcalloc((size_t)ncols, sizeof(char *));
    char (*labels)[24] = xcalloc((size_t)ncols, 24);
    h3[0] = "variant";
    for (int l = 0; l < r->n_layers; l++) {
        snprintf(labels[l + 1], 24, "block %d", l);
        h3[l + 1] = labels[l + 1];
    }
    qtable_init(&t, ncols, h3);
    for (int c = 1; c < ncols; c++) qtable_align_right(&t, c, 1);
    for (int i = 1; i < r->n_rows; i++) {
        const LlmPtqRow *w = &r->rows[i];
        qtable_new_row(&t);
        if (w->abits == 32) qtable_cell(&t, "%s w%d%s%.0lld", w->method, w->wbits, w->group ? " g" : "", (long long)(w->group ? w->group : 0));
        else qtable_cell(&t, "w8 (for %s)", w->method);
        for (int l = 0; l < r->n_layers; l++) {
            if (w->block_err[l] < 0) qtable_cell(&t, "-"); /* not measured: no calibration pass */
            else qtable_cell(&t, "%.4f", w->block_err[l]);
        }
    }
    qtable_print(&t, stdout);
    qtable_free(&t);
    printf("\nWhy LLMs are hard (3): low bits — see the perplexity column above.\n");
    for (int i = 1; i < r->n_rows; i++) {
        const LlmPtqRow *w = &r->rows[i];
        if (w->e2e_kl[0] < 0 && w->tune_loss[0][0] < 0) continue;
        printf("%s w%d%s%.0lld tuning (codes fixed):", w->method, w->wbits, w->group ? " g" : "", (long long)(w->group ? w->group : 0));
        if (w->tune_loss[0][0] >= 0) {
            printf(" block loss");
            for (int l = 0; l < r->n_layers; l++) printf(" %.4f->%.4f", w->tune_loss[l][0], w->tune_loss[l][1]);
            printf(";");
        }
        if (w->e2e_kl[0] >= 0) printf(" end-to-end KL %.4f->%.4f", w->e2e_kl[0], w->e2e_kl[1]);
        printf("\n");
    }
    printf("total %.1f s, peak RSS %.1f MB%s%s\n", r->total_seconds, r->peak_rss / 1048576.0, o.save_dir ? ", saved in " : "",
           o.save_dir ? o.save_dir : "");
    if (json || report) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "command", "ptq-llm");
        cJSON_AddStringToObject(root, "model", r->model_desc);
        cJSON_AddStringToObject(root, "eval_protocol", r->eval_desc);
        cJSON_AddStringToObject(root, "calibration", r->calib_desc);
        if (dt[0].text || dt[1].text) { /* where the texts came from */
            cJSON *ds = cJSON_AddObjectToObject(root, "dataset");
            if (dt[0].text) cJSON_AddItemToObject(ds, "evaluation", dataset_text_json(&da, &dt[0]));
            if (dt[1].text) cJSON_AddItemToObject(ds, "calibration", dataset_text_json(&da, &dt[1]));
        }
        cJSON_AddStringToObject(root, "fp32_gemm", kern_gemm_choice()->why);
        if (r->distill_desc[0]) cJSON_AddStringToObject(root, "end_to_end_data", r->distill_desc);
        cJSON_AddNumberToObject(root, "eval_windows", (double)r->eval_windows);
        cJSON_AddNumberToObject(root, "eval_tokens_scored", (double)r->eval_tokens_scored);
        cJSON_AddNumberToObject(root, "total_seconds", r->total_seconds);
        cJSON_AddNumberToObject(root, "peak_rss_bytes", (double)r->peak_rss);
        const LlmPtqPlan *pl = &r->plan; /* what was planned; the rows say what ran */
        cJSON *pj = cJSON_AddObjectToObject(root, "plan");
        cJSON_AddStringToObject(pj, "preset", llm_preset_name(pl->preset));
        cJSON_AddNumberToObject(pj, "budget_seconds", pl->budget_seconds);
        cJSON_AddNumberToObject(pj, "estimated_seconds", pl->est_seconds);
        cJSON_AddNumberToObject(pj, "nominal_gflops", pl->gflops);
        cJSON_AddBoolToObject(pj, "calibration_pass", pl->calib_pass);
        cJSON_AddNumberToObject(pj, "calibration_windows", pl->calib_pass ? o.calib_samples : 0);
        cJSON_AddNumberToObject(pj, "eval_windows", (double)pl->eval_windows);
        cJSON_AddNumberToObject(pj, "eval_windows_available", (double)pl->eval_available);
        cJSON_AddStringToObject(pj, "left_out", pl->trimmed);
        cJSON *ps = cJSON_AddArrayToObject(pj, "steps");
        for (int i = 0; i < pl->n_steps; i++) {
            cJSON *y = cJSON_CreateObject();
            cJSON_AddStringToObject(y, "step", pl->steps[i].name);
            cJSON_AddNumberToObject(y, "estimated_seconds", pl->steps[i].seconds);
            cJSON_AddItemToArray(ps, y);
        }
        cJSON *rows = cJSON_AddArrayToObject(root, "rows");
        for (int i = 0; i < r->n_rows; i++) {
            const LlmPtqRow *w = &r->rows[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "method", w->method);
            cJSON_AddNumberToObject(x, "weight_bits", w->wbits);
            cJSON_AddNumberToObject(x, "group_size", (double)w->group);
            cJSON_AddNumberToObject(x, "act_bits", w->abits);
            cJSON_AddNumberToObject(x, "bits_per_weight", w->bpw);
            cJSON_AddNumberToObject(x, "bytes", (double)w->bytes);
            if (w->bytes && i > 0) cJSON_AddNumberToObject(x, "file_bits_per_param", w->file_bpw);
            cJSON_AddNumberToObject(x, "perplexity", w->ppl);
            cJSON_AddNumberToObject(x, "delta_vs_fp32", w->ppl / fp - 1);
            cJSON_AddNumberToObject(x, "seconds", w->seconds);
            if (w->file[0]) cJSON_AddStringToObject(x, "file", w->file);
            if (w->act_range[0]) { /* static per-tensor rows: how the ranges were calibrated */
                cJSON_AddStringToObject(x, "act_range", w->act_range);
                if (!strcmp(w->act_range, "search")) {
                    cJSON *rr = cJSON_AddArrayToObject(x, "act_range_ratio"); /* [layer * 4 + site] */
                    for (int k = 0; k < r->n_layers * LLM_N_SITES; k++) cJSON_AddItemToArray(rr, cJSON_CreateNumber(w->range_ratio[k]));
                }
            }
            if (i > 0) {
                if (w->block_err[0] >= 0) {
                    cJSON *be = cJSON_AddArrayToObject(x, "block_rel_error");
                    for (int l = 0; l < r->n_layers; l++) cJSON_AddItemToArray(be, cJSON_CreateNumber(w->block_err[l]));
                }
                if (w->tune_loss[0][0] >= 0) {
                    cJSON *tl = cJSON_AddArrayToObject(x, "block_tune_loss");
                    for (int l = 0; l < r->n_layers; l++) {
                        cJSON *pr = cJSON_CreateArray();
                        cJSON_AddItemToArray(pr, cJSON_CreateNumber(w->tune_loss[l][0]));
                        cJSON_AddItemToArray(pr, cJSON_CreateNumber(w->tune_loss[l][1]));
                        cJSON_AddItemToArray(tl, pr);
                    }
                }
                if (w->e2e_kl[0] >= 0) {
                    cJSON_AddNumberToObject(x, "e2e_kl_before", w->e2e_kl[0]);
                    cJSON_AddNumberToObject(x, "e2e_kl_after", w->e2e_kl[1]);
                }
            }
            cJSON_AddItemToArray(rows, x);
        }
        cJSON *outl = cJSON_AddArrayToObject(root, "outliers");
        for (int i = 0; i < r->n_outliers; i++) {
            const LlmPtqOutlier *u = &r->outliers[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "layer", u->layer);
            cJSON_AddStringToObject(x, "input_of", site_name(u->site));
            cJSON_AddNumberToObject(x, "absmax", u->absmax);
            cJSON_AddNumberToObject(x, "median_channel_absmax", u->median_channel_absmax);
            cJSON_AddNumberToObject(x, "channels_above_threshold", u->channels_above);
            cJSON_AddNumberToObject(x, "weight_kurtosis", u->weight_kurtosis);
            llm_ptq_json_channels(x, u);
            cJSON_AddItemToArray(outl, x);
        }
        if (r->n_injected) {
            cJSON *inj = cJSON_AddObjectToObject(root, "injected_outliers");
            cJSON_AddNumberToObject(inj, "factor", o.outlier_factor);
            cJSON *ch = cJSON_AddArrayToObject(inj, "channels");
            for (int i = 0; i < r->n_injected; i++) cJSON_AddItemToArray(ch, cJSON_CreateNumber(r->injected[i]));
        }
        cJSON *scl = cJSON_AddArrayToObject(root, "scales");
        for (int v = 0; v < r->n_scales; v++) {
            const LlmPtqScale *sc = &r->scales[v];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "variant", sc->variant);
            cJSON_AddStringToObject(x, "kind", sc->awq ? "awq" : "smoothquant");
            cJSON *sites = cJSON_AddArrayToObject(x, "sites");
            for (int l = 0; l < r->n_layers; l++)
                for (int si = 0; si < LLM_N_SITES; si++) {
                    const LlmScaleSite *u = &sc->site[l * LLM_N_SITES + si];
                    cJSON *y = cJSON_CreateObject();
                    cJSON_AddNumberToObject(y, "layer", l);
                    cJSON_AddStringToObject(y, "input_of", site_name((LlmSite)si));
                    cJSON_AddBoolToObject(y, "folded", u->folded);
                    if (u->folded && u->v >= 0) cJSON_AddNumberToObject(y, sc->awq ? "power" : "alpha", u->v); /* absent: s = 1 */
                    cJSON_AddNumberToObject(y, "channel_absmax_max_before", u->max_before);
                    cJSON_AddNumberToObject(y, "channel_absmax_median_before", u->med_before);
                    cJSON_AddNumberToObject(y, "channel_absmax_max_after", u->max_after);
                    cJSON_AddNumberToObject(y, "channel_absmax_median_after", u->med_after);
                    if (u->n_ch > 0) { /* per channel, on the same rows: what the report's outlier plot draws */
                        llm_ptq_json_ch(y, "channel_absmax_before", u->ch_before, u->n_ch);
                        llm_ptq_json_ch(y, "channel_absmax_after", u->ch_after, u->n_ch);
                        cJSON_AddNumberToObject(y, "channels_per_value", u->ch_pool);
                    }
                    if (u->folded) {
                        cJSON_AddNumberToObject(y, "rel_error_unscaled", u->err_none);
                        cJSON_AddNumberToObject(y, "rel_error_scaled", u->err_best);
                    }
                    if (sc->awq) cJSON_AddNumberToObject(y, "mean_clip_ratio", u->clip_mean);
                    else cJSON_AddNumberToObject(y, "static_range_ratio", u->aclip);
                    cJSON_AddNumberToObject(y, "int8_channels_kept", r->outliers[l * LLM_N_SITES + si].channels_above);
                    cJSON_AddItemToArray(sites, y);
                }
            cJSON_AddItemToArray(scl, x);
        }
        report_add_run_info(root, a->cmdline);
        if (json && qjson_write_file(json, root, err)) rc = 1;
        if (rc == 0 && report && report_write(report, &root, NULL, 1, anchors, compare, err)) rc = 1;
        cJSON_Delete(root);
    }
    free(h3);
    free(labels);
    free(r);
done:
    dataset_text_free(&dt[0]);
    dataset_text_free(&dt[1]);
    cJSON_Delete(anchors);
    model_arg_free(&ma);
    args_free_list(methods, nm);
    free(bits);
    free(groups);
    return rc;
}
