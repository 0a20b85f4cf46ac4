/* cmd_report.c — `quant report RUN.json [RUN2.json ...] --out FILE.html`: a report rebuilt
 * from saved results (several runs side by side). */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "cmd.h"
#include "quant/report.h"

int cmd_report(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        puts("usage: quant report RUN.json [RUN2.json ...] --out FILE.html [--compare ANCHORS.json]\n"
             "  RUN.json: what --json FILE wrote (basics, ptq-nn, qat, ptq-llm, bench); several runs share the plots.\n"
             "  --compare: reference points for the ptq-llm perplexity plot (docs/formats.md).");
        return 0;
    }
    const char *out = args_str(a, "out", NULL), *compare = args_str(a, "compare", NULL);
    if (a->npos < 1) return qerr_set(err, "give at least one results JSON file (quant report RUN.json --out FILE.html)"), 2;
    if (!out) return qerr_set(err, "--out FILE.html is required"), 2;
    if (a->npos > 64) return qerr_set(err, "at most 64 runs in one report"), 2;
    /* args_finish rejects positionals; the run files are ours, so it checks the flags only */
    int npos = a->npos;
    a->npos = 0;
    int bad = args_finish(a, err);
    a->npos = npos;
    if (bad) return 2;
    cJSON **runs = xcalloc((size_t)npos, sizeof(cJSON *)), *anchors = NULL;
    int rc = 1;
    for (int i = 0; i < npos; i++)
        if (report_read_json(a->pos[i], &runs[i], err)) goto out;
    if (compare && report_read_json(compare, &anchors, err)) goto out;
    if (report_write(out, runs, (const char *const *)a->pos, npos, anchors, compare, err)) goto out;
    rc = 0;
out:
    for (int i = 0; i < npos; i++) cJSON_Delete(runs[i]);
    free(runs);
    cJSON_Delete(anchors);
    return rc;
}
