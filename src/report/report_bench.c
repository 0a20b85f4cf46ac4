/* report_bench.c — `quant bench`: decoding speed against the memory-bandwidth bound, prompt
 * speed, memory.  The JSON's shape is in docs/formats.md ("bench results"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

enum { MAXR = 64 };

void report_bench(RPage *pg, const RRun *runs, int n) {
    page_h2(pg, "quant bench: speed and memory");
    const char *cats[MAXR];
    char names[MAXR][96];
    double dec[MAXR], bound[MAXR], pro[MAXR], rss[MAXR], wb[MAXR];
    int nc = 0;
    for (int i = 0; i < n; i++) {
        const RRun *r = &runs[i];
        page_p(pg, "%s%sModel: %s; %.0f threads; memory bandwidth %.1f GB/s (measured by streaming reads; the bound is this "
                   "bandwidth over the bytes one decoded token reads).",
               n > 1 ? r->name : "", n > 1 ? " — " : "", rj_str(pg, r, r->root, "model", "?"), rj_num(pg, r, r->root, "threads", 0),
               rj_num(pg, r, r->root, "bandwidth_gb_s", NAN));
        const cJSON *e;
        cJSON_ArrayForEach(e, rj_arr(pg, r, r->root, "rows")) {
            if (nc >= MAXR) break;
            char what[80];
            snprintf(what, sizeof what, "%s (%s)", rj_str(pg, r, e, "name", "?"), rj_str(pg, r, e, "kernel", "?"));
            run_label(r, n, what, names[nc], sizeof names[nc]);
            cats[nc] = names[nc];
            dec[nc] = rj_num(pg, r, e, "decode_tokens_per_s", NAN);
            bound[nc] = rj_num(pg, r, e, "bound_tokens_per_s", NAN);
            pro[nc] = rj_num(pg, r, e, "prompt_tokens_per_s", NAN);
            rss[nc] = rj_num(pg, r, e, "peak_rss_bytes", NAN) / 1048576.0;
            wb[nc] = rj_num(pg, r, e, "weight_bytes", NAN) / 1048576.0;
            nc++;
        }
    }
    if (nc == 0 || pg->failed) return;
    char id[16];
    SvgPlot p;
    /* a toy model decodes far below its bound (the per-token overhead dominates): a log axis
     * keeps both bars readable when they differ by more than 20x */
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < nc; i++) {
        if (dec[i] > 0) lo = fmin(lo, dec[i]);
        if (bound[i] > 0) hi = fmax(hi, bound[i]);
    }
    int logy = hi > 20 * lo;
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), "Decoding: measured tokens/s against the bandwidth bound", "variant (kernel)",
                  logy ? "tokens per second (log scale)" : "tokens per second");
    p.y.log = logy;
    svg_plot_categories(&p, cats, nc);
    SvgSeries *s = svg_plot_add(&p, "decode (measured)", SVG_BARS, NULL, dec, nc);
    s->color = 0;
    s = svg_plot_add(&p, "bandwidth bound", SVG_BARS, NULL, bound, nc);
    s->color = -1;
    page_figure(pg, &p,
                "Decoding one token reads every weight once, so memory bandwidth caps it: the closer the blue bar to the grey one, "
                "the better the kernel uses the bandwidth; fewer bits raise the cap.");
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), "Prompt processing: tokens/s", "variant (kernel)", "tokens per second");
    svg_plot_categories(&p, cats, nc);
    s = svg_plot_add(&p, "prompt (measured)", SVG_BARS, NULL, pro, nc);
    s->color = 2;
    page_figure(pg, &p, "A prompt is processed as matrix products (each weight read once for many tokens), so it is bound by "
                        "compute rather than bandwidth: compare it with the decoding rate above.");
    svg_plot_init(&p, page_fig_id(pg, id, sizeof id), "Memory: weights and peak resident set", "variant (kernel)", "MiB");
    svg_plot_categories(&p, cats, nc);
    s = svg_plot_add(&p, "weights", SVG_BARS, NULL, wb, nc);
    s->color = 4;
    s = svg_plot_add(&p, "peak RSS", SVG_BARS, NULL, rss, nc);
    s->color = 3;
    page_figure(pg, &p, "Fewer bits shrink the weights; what the peak holds beyond them is activations, the KV cache and the "
                        "program itself.");
}
