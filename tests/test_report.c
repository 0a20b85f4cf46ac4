/* test_report.c — the SVG module (escaping, ticks on linear and log axes, where a known series
 * lands), the histogram counts, and report_write on good and hostile results trees. */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "quant/qerror.h"
#include "quant/report.h"
#include "test.h"

TEST(escape) {
    QBuf b;
    qbuf_init(&b);
    qbuf_escape(&b, "a<b & \"c\" 'd'>\x01");
    CHECK(strcmp(b.s, "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;?") == 0);
    qbuf_printf(&b, "%d", 42);
    CHECK(b.n == strlen(b.s) && strcmp(b.s + b.n - 2, "42") == 0);
    qbuf_free(&b);
}

TEST(linear_ticks) {
    SvgScale s;
    svg_scale_fit(&s, 0, 0.0, 1.0, 5); /* step 0.2: 0, 0.2, ..., 1 */
    CHECK(s.n_ticks == 6);
    CHECK_NEAR(s.step, 0.2, 1e-12);
    for (int i = 0; i < s.n_ticks; i++) CHECK_NEAR(s.ticks[i], 0.2 * i, 1e-12);
    svg_scale_fit(&s, 0, -0.0137, 0.0137, 8); /* raw step 0.0034 -> 0.005, range widened to +-0.015 */
    CHECK_NEAR(s.step, 0.005, 1e-15);
    CHECK_NEAR(s.lo, -0.015, 1e-12);
    CHECK_NEAR(s.hi, 0.015, 1e-12);
    CHECK(s.n_ticks == 7);
    CHECK(s.ticks[3] == 0); /* exactly 0, not 1e-18 */
    char lab[32];
    svg_tick_label(&s, s.ticks[0], lab, sizeof lab);
    CHECK(strcmp(lab, "-0.015") == 0);
    svg_scale_fit(&s, 0, 3, 3, 5); /* a single value: widened around it */
    CHECK(s.lo < 3 && s.hi > 3 && s.n_ticks >= 2);
    svg_scale_fit(&s, 0, 0, 140000, 6);
    svg_tick_label(&s, s.ticks[1], lab, sizeof lab);
    CHECK(strcmp(lab, "20000") == 0);
}

TEST(log_ticks) {
    SvgScale s;
    svg_scale_fit(&s, 1, 1, 1000, 6); /* three decades: decades only */
    CHECK(s.n_ticks == 4);
    for (int i = 0; i < 4; i++) CHECK_NEAR(s.ticks[i], pow(10, i), 1e-9);
    svg_scale_fit(&s, 1, 4.8, 40, 6); /* less than three decades: 1-2-5 */
    CHECK(s.n_ticks == 3);
    CHECK_NEAR(s.ticks[0], 5, 1e-12);
    CHECK_NEAR(s.ticks[1], 10, 1e-12);
    CHECK_NEAR(s.ticks[2], 20, 1e-12);
    svg_scale_fit(&s, 1, 4.5, 7.5, 6); /* within a decade: 1..9 */
    CHECK(s.n_ticks == 3 && s.ticks[0] == 5 && s.ticks[2] == 7);
    /* mapping: the decade's middle (sqrt 10) halfway */
    svg_scale_fit(&s, 1, 1, 100, 6);
    s.p0 = 0;
    s.p1 = 200;
    CHECK_NEAR(svg_scale_map(&s, 10), 100, 1e-9);
    CHECK_NEAR(svg_scale_map(&s, sqrt(10)), 50, 1e-9);
    char lab[32];
    svg_tick_label(&s, 1e-5, lab, sizeof lab);
    CHECK(strcmp(lab, "1e-05") == 0);
}

/* A 940 x 360 plot without a legend has its data area at x 74..922, y 36..308: with fixed axes
 * [0, 10] x [0, 100], the point (5, 50) is drawn at (498, 172) and (10, 0) at (922, 308). */
TEST(series_coordinates) {
    SvgPlot p;
    svg_plot_init(&p, "t1", "a <title> & more", "x (units)", "y (units)");
    p.x.lo = 0;
    p.x.hi = 10;
    p.y.lo = 0;
    p.y.hi = 100;
    double x[3] = {5, 10, NAN}, y[3] = {50, 0, 1};
    SvgSeries *s = svg_plot_add(&p, "", SVG_LINEPOINTS, x, y, 3);
    CHECK(s != NULL);
    x[0] = -1; /* the series holds a copy */
    QBuf b;
    qbuf_init(&b);
    svg_plot_write(&p, &b);
    CHECK(strstr(b.s, "<circle cx=\"498.0\" cy=\"172.0\"") != NULL);
    CHECK(strstr(b.s, "<circle cx=\"922.0\" cy=\"308.0\"") != NULL);
    CHECK(strstr(b.s, "points=\"498.0,172.0 922.0,308.0\"") != NULL); /* the NaN point is left out */
    CHECK(strstr(b.s, "a &lt;title&gt; &amp; more") != NULL);
    CHECK(strstr(b.s, "<title>a <title>") == NULL);
    CHECK(strstr(b.s, "data-n=\"3\"") != NULL);
    static const char head[] = "<svg xmlns=\"http://www.w3.org/2000/svg\"";
    CHECK(strncmp(b.s, head, sizeof head - 1) == 0);
    CHECK(strcmp(b.s + b.n - 7, "</svg>\n") == 0);
    svg_plot_free(&p);
    qbuf_free(&b);
}

TEST(histogram_counts) {
    float v[8] = {-2, -0.5f, 0, 0.1f, 0.49f, 0.5f, 3, NAN};
    int64_t c[4];
    qhistogram(v, 8, -1, 1, 4, c); /* bins [-1,-.5) [-.5,0) [0,.5) [.5,1]; outside -> end bins */
    CHECK(c[0] == 1 && c[1] == 1 && c[2] == 3 && c[3] == 2);
}

static char *tmp_path(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/test_report-%d-%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), name);
    return buf;
}

static cJSON *basics_tree(void) {
    cJSON *r = cJSON_Parse("{\"command\": \"basics\", \"example\": {\"value\": 0.5372, \"grids\": [{\"bits\": 8, \"scale\": "
                           "0.00392157, \"zero_point\": -128, \"qmin\": -128, \"qmax\": 127, \"code\": 9, \"dequantized\": 0.537255}]},"
                           "\"rows\": [{\"bits\": 8, \"scheme\": \"symmetric\", \"granularity\": \"tensor\", \"error_histogram\": "
                           "{\"lo\": -0.01, \"hi\": 0.01, \"counts\": [1, 5, 9, 5, 1]}}]}");
    report_add_run_info(r, "quant basics --report x.html");
    return r;
}

TEST(report_write_good_and_bad) {
    QErr err = {{0}};
    cJSON *r = basics_tree();
    char *path = tmp_path("ok.html");
    CHECK(report_write(path, &r, NULL, 1, NULL, NULL, &err) == 0);
    uint8_t *d;
    size_t n;
    CHECK(qfile_read_all(path, &d, &n, &err) == 0);
    CHECK(strstr((char *)d, "<!DOCTYPE html>") == (char *)d);
    CHECK(strstr((char *)d, "quant basics --report x.html") != NULL);
    CHECK(strstr((char *)d, "data-name=\"tensor, symmetric\"") != NULL);
    CHECK(strstr((char *)d, "0.537255 ≈ 0.54") != NULL);
    free(d);
    unlink(path);

    /* a field of the wrong type: one error naming the run and the field, no file */
    cJSON *rows = cJSON_GetObjectItem(r, "rows"), *row = cJSON_GetArrayItem(rows, 0);
    cJSON_ReplaceItemInObject(row, "bits", cJSON_CreateString("8"));
    const char *names[1] = {"runs/b.json"};
    path = tmp_path("bad.html");
    CHECK(report_write(path, &r, names, 1, NULL, NULL, &err) == -1);
    CHECK(strstr(err.msg, "runs/b.json") != NULL && strstr(err.msg, "\"bits\"") != NULL);
    CHECK(access(path, F_OK) != 0);
    cJSON_Delete(r);

    /* an unknown command; histogram counts that are not numbers */
    r = cJSON_Parse("{\"command\": \"bogus\"}");
    CHECK(report_write(path, &r, names, 1, NULL, NULL, &err) == -1 && strstr(err.msg, "command") != NULL);
    cJSON_Delete(r);
    r = basics_tree();
    cJSON *h = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "rows"), 0), "error_histogram");
    cJSON_ReplaceItemInObject(h, "counts", cJSON_Parse("[1, \"x\"]"));
    CHECK(report_write(path, &r, names, 1, NULL, NULL, &err) == -1 && strstr(err.msg, "counts[1]") != NULL);
    CHECK(access(path, F_OK) != 0);
    cJSON_Delete(r);

    /* anchors of the wrong shape are refused */
    r = cJSON_Parse("{\"command\": \"ptq-llm\", \"rows\": [{\"method\": \"rtn\", \"weight_bits\": 4, \"group_size\": 32, "
                    "\"act_bits\": 32, \"bits_per_weight\": 4.5, \"perplexity\": 5.2}]}");
    cJSON *an = cJSON_Parse("{\"anchors\": [{\"label\": \"x\", \"bits_per_weight\": -1, \"perplexity\": 5}]}");
    CHECK(report_write(path, &r, names, 1, an, "a.json", &err) == -1 && strstr(err.msg, "a.json") != NULL);
    cJSON_Delete(an);
    an = cJSON_Parse("{\"anchors\": [{\"label\": \"llama.cpp\", \"bits_per_weight\": 4.5, \"perplexity\": 5}]}");
    CHECK(report_write(path, &r, names, 1, an, "a.json", &err) == 0);
    CHECK(qfile_read_all(path, &d, &n, &err) == 0);
    CHECK(strstr((char *)d, "reference points (a.json)") != NULL && strstr((char *)d, ">llama.cpp<") != NULL);
    free(d);
    unlink(path);
    cJSON_Delete(an);
    cJSON_Delete(r);
}

/* ptq-llm's per-site plot: the SmoothQuant per-tensor variant is chosen over AWQ, the layer
 * where the largest channel towers most comes first, the caption's ratios are the site's own
 * max / median fields, a log axis once the curves span > 30x; unequal arrays are refused. */
static cJSON *llm_scales_tree(void) {
    cJSON *r = cJSON_Parse(
        "{\"command\": \"ptq-llm\", \"rows\": [{\"method\": \"fp32\", \"weight_bits\": 32, \"act_bits\": 32, \"bits_per_weight\": 32, "
        "\"perplexity\": 5}],"
        "\"outliers\": [{\"layer\": 0, \"input_of\": \"attn-in (q,k,v)\", \"absmax\": 50, \"median_channel_absmax\": 1, "
        "\"channel_absmax\": [1, 50, 1, 1], \"channels_per_value\": 1}],"
        "\"scales\": ["
        " {\"variant\": \"awq w4 g32\", \"kind\": \"awq\", \"sites\": [{\"layer\": 0, \"input_of\": \"attn-in (q,k,v)\", \"folded\": true,"
        "  \"power\": 0.5, \"channel_absmax_max_before\": 50, \"channel_absmax_median_before\": 1, \"channel_absmax_max_after\": 7,"
        "  \"channel_absmax_median_after\": 1, \"channel_absmax_before\": [1, 50, 1, 1], \"channel_absmax_after\": [1, 7, 1, 1],"
        "  \"channels_per_value\": 1}]},"
        " {\"variant\": \"sq w8a8 tensor\", \"kind\": \"smoothquant\", \"sites\": ["
        "  {\"layer\": 0, \"input_of\": \"attn-in (q,k,v)\", \"folded\": true, \"alpha\": 0.5, \"channel_absmax_max_before\": 40,"
        "   \"channel_absmax_median_before\": 2, \"channel_absmax_max_after\": 3, \"channel_absmax_median_after\": 1,"
        "   \"channel_absmax_before\": [2, 40, 2, 1], \"channel_absmax_after\": [1, 3, 1, 1], \"channels_per_value\": 1},"
        "  {\"layer\": 1, \"input_of\": \"attn-in (q,k,v)\", \"folded\": true, \"alpha\": 0.75, \"channel_absmax_max_before\": 90,"
        "   \"channel_absmax_median_before\": 1, \"channel_absmax_max_after\": 1.5, \"channel_absmax_median_after\": 1,"
        "   \"channel_absmax_before\": [1, 1, 90, 1], \"channel_absmax_after\": [1, 1, 1.5, 1], \"channels_per_value\": 1}]}]}");
    report_add_run_info(r, "quant ptq-llm --report x.html");
    return r;
}

TEST(llm_smoothing_plot) {
    QErr err = {{0}};
    cJSON *r = llm_scales_tree();
    char *path = tmp_path("llm.html");
    CHECK(report_write(path, &r, NULL, 1, NULL, NULL, &err) == 0);
    uint8_t *d;
    size_t n;
    CHECK(qfile_read_all(path, &d, &n, &err) == 0);
    const char *pg = (const char *)d;
    CHECK(strstr(pg, "max|x| per channel before and after sq w8a8 tensor") != NULL);
    CHECK(strstr(pg, "after awq") == NULL);
    const char *c1 = strstr(pg, "layer 1: largest channel 90.0× the median before, 1.5× after (α 0.75)"),
               *c0 = strstr(pg, "layer 0: largest channel 20.0× the median before, 3.0× after (α 0.50)");
    CHECK(c1 != NULL && c0 != NULL && c1 < c0);
    CHECK(strstr(pg, "data-name=\"layer 1 before\"") != NULL && strstr(pg, "data-name=\"layer 0 after\"") != NULL);
    CHECK(strstr(pg, "max |x| over the calibration tokens (log scale)") != NULL); /* 90 / 1 > 30 */
    free(d);
    unlink(path);
    /* after with another count than before: refused, no file */
    cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "scales"), 1);
    cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "sites"), 1);
    cJSON_ReplaceItemInObject(st, "channel_absmax_after", cJSON_Parse("[1, 1, 1]"));
    CHECK(report_write(path, &r, NULL, 1, NULL, NULL, &err) == -1 && strstr(err.msg, "channel_absmax_after") != NULL);
    CHECK(access(path, F_OK) != 0);
    cJSON_Delete(r);
}

/* ptq-nn's histogram of one output channel (the CNN): its title names the channel, the caption
 * counts the levels in use */
TEST(nn_channel_histogram) {
    QErr err = {{0}};
    cJSON *r = cJSON_Parse(
        "{\"command\": \"ptq-nn\", \"arch\": \"cnn\", \"rows\": [{\"method\": \"fp32 (cnn)\", \"weight_bits\": 32, \"accuracy\": 0.9}],"
        "\"weight_histogram\": {\"layer\": 2, \"in\": 6, \"out\": 10, \"channel\": 3, \"lo\": -1, \"hi\": 1, \"counts\": [1, 2, 2, 1],"
        " \"quantized\": [{\"bits\": 2, \"scheme\": \"symmetric, per channel\", \"scale\": 1, \"qmin\": -2, \"qmax\": 1,"
        "  \"level_counts\": [0, 1, 4, 1]}]}}");
    report_add_run_info(r, "quant ptq-nn --arch cnn --report x.html");
    char *path = tmp_path("nn.html");
    CHECK(report_write(path, &r, NULL, 1, NULL, NULL, &err) == 0);
    uint8_t *d;
    size_t n;
    CHECK(qfile_read_all(path, &d, &n, &err) == 0);
    CHECK(strstr((char *)d, "Layer 2 weights, output channel 3 (6 weights): fp32 and 2-bit, symmetric per channel") != NULL);
    CHECK(strstr((char *)d, "spikes on 3 of the 4 levels, and 66.7% of the weights land on 0 at 2 bits") != NULL);
    free(d);
    unlink(path);
    cJSON_Delete(r);
}

TEST(read_json_errors) {
    QErr err = {{0}};
    char *path = tmp_path("x.json");
    FILE *f = fopen(path, "w");
    fputs("{\"command\": ", f);
    fclose(f);
    cJSON *j;
    CHECK(report_read_json(path, &j, &err) == -1 && strstr(err.msg, "not valid JSON") != NULL);
    f = fopen(path, "w");
    fputs("[1, 2]", f);
    fclose(f);
    CHECK(report_read_json(path, &j, &err) == -1 && strstr(err.msg, "object") != NULL);
    unlink(path);
}

int main(void) {
    RUN(escape);
    RUN(linear_ticks);
    RUN(log_ticks);
    RUN(series_coordinates);
    RUN(histogram_counts);
    RUN(report_write_good_and_bad);
    RUN(llm_smoothing_plot);
    RUN(nn_channel_histogram);
    RUN(read_json_errors);
    return test_summary("test_report");
}
