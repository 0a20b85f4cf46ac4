/* html.c — the report page: head with inline CSS, the run's facts, sections, figures, tables. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

static const char *css =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;max-width:1000px;"
    "margin:24px auto;padding:0 16px;background:#fff}\n"
    "h1{font-size:24px;margin-bottom:6px}h2{font-size:19px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:34px}\n"
    "h3{font-size:16px;margin:22px 0 6px}\n"
    ".meta{background:#f6f7f9;border:1px solid #e1e4e8;border-radius:4px;padding:8px 12px;font-size:13px;margin:10px 0}\n"
    ".meta dt{font-weight:600;float:left;width:120px;clear:left}.meta dd{margin:0 0 2px 124px}\n"
    ".meta code{white-space:pre-wrap;word-break:break-all;font-size:12px}\n"
    "figure{margin:18px 0 26px;break-inside:avoid;page-break-inside:avoid}\n"
    "figure svg{max-width:100%;height:auto;display:block;border:1px solid #eee}\n"
    "figcaption{font-size:13px;color:#444;margin-top:5px}\n"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{padding:2px 9px;border-bottom:1px solid #eee;"
    "text-align:right}th{border-bottom:1px solid #999;background:#fafafa}td:first-child,th:first-child{text-align:left}\n"
    "p.note{font-size:13px;color:#555}\n"
    "@media print{body{max-width:none;margin:0}figure svg{border:none}.meta{background:none}}\n";

void page_begin(RPage *pg, const char *title) {
    qbuf_puts(&pg->b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    qbuf_escape(&pg->b, title);
    qbuf_printf(&pg->b, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", css);
    qbuf_escape(&pg->b, title);
    qbuf_puts(&pg->b, "</h1>\n");
}

void page_end(RPage *pg) {
    qbuf_puts(&pg->b, "<p class=\"note\">Written by quant. Every figure is drawn from the run's results tree (the JSON "
                      "that <code>--json FILE</code> writes); <code>quant report RUN.json --out FILE.html</code> redraws it. "
                      "Hover a point for its values.</p>\n</body>\n</html>\n");
}

void page_run_header(RPage *pg, const RRun *r) {
    const cJSON *run = rj_obj(pg, r, r->root, "run");
    qbuf_puts(&pg->b, "<dl class=\"meta\">\n<dt>run</dt><dd>");
    qbuf_escape(&pg->b, r->name);
    qbuf_puts(&pg->b, "</dd>\n");
    if (!run) {
        qbuf_puts(&pg->b, "<dt>command</dt><dd>(not recorded in this JSON)</dd>\n</dl>\n");
        return;
    }
    const char *keys[] = {"command_line", "date", "cpu"}, *labels[] = {"command", "date (UTC)", "machine"};
    for (int i = 0; i < 3; i++) {
        const char *v = rj_str(pg, r, run, keys[i], "?");
        qbuf_printf(&pg->b, "<dt>%s</dt><dd>%s", labels[i], i == 0 ? "<code>" : "");
        qbuf_escape(&pg->b, v);
        if (i == 0) qbuf_puts(&pg->b, "</code>");
        if (i == 2) qbuf_printf(&pg->b, ", %d cores", rj_int(pg, r, run, "cores", 0));
        qbuf_puts(&pg->b, "</dd>\n");
    }
    qbuf_puts(&pg->b, "</dl>\n");
}

static void heading(RPage *pg, const char *tag, const char *text) {
    qbuf_printf(&pg->b, "<%s>", tag);
    qbuf_escape(&pg->b, text);
    qbuf_printf(&pg->b, "</%s>\n", tag);
}
void page_h2(RPage *pg, const char *text) { heading(pg, "h2", text); }
void page_h3(RPage *pg, const char *text) { heading(pg, "h3", text); }

void page_p(RPage *pg, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    char *s = xmalloc((size_t)k + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)k + 1, fmt, ap);
    va_end(ap);
    qbuf_puts(&pg->b, "<p>");
    qbuf_escape(&pg->b, s);
    qbuf_puts(&pg->b, "</p>\n");
    free(s);
}

const char *page_fig_id(RPage *pg, char *buf, size_t n) {
    snprintf(buf, n, "fig%d", ++pg->n_fig);
    return buf;
}

void page_figure(RPage *pg, SvgPlot *p, const char *caption) {
    qbuf_puts(&pg->b, "<figure>\n");
    svg_plot_write(p, &pg->b);
    qbuf_puts(&pg->b, "<figcaption>");
    qbuf_escape(&pg->b, caption);
    qbuf_puts(&pg->b, "</figcaption>\n</figure>\n");
    svg_plot_free(p);
}

void page_table(RPage *pg, int ncols, int nrows, const char *const *headers, char *const *cells) {
    qbuf_puts(&pg->b, "<table>\n<tr>");
    for (int c = 0; c < ncols; c++) {
        qbuf_puts(&pg->b, "<th>");
        qbuf_escape(&pg->b, headers[c]);
        qbuf_puts(&pg->b, "</th>");
    }
    qbuf_puts(&pg->b, "</tr>\n");
    for (int r = 0; r < nrows; r++) {
        qbuf_puts(&pg->b, "<tr>");
        for (int c = 0; c < ncols; c++) {
            qbuf_puts(&pg->b, "<td>");
            qbuf_escape(&pg->b, cells[(size_t)r * ncols + c]);
            qbuf_puts(&pg->b, "</td>");
        }
        qbuf_puts(&pg->b, "</tr>\n");
    }
    qbuf_puts(&pg->b, "</table>\n");
}
