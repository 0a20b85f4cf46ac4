/* report.h — the HTML report: a third view of a command's results, beside the table and the
 * JSON (src/report/).  A command builds its cJSON results tree (the one `--json FILE` writes),
 * adds the run's facts with report_add_run_info, and hands the tree to report_write; `quant
 * report` reads saved JSON files and hands their trees over the same way, several runs side by
 * side.  The page is one self-contained HTML file (inline CSS and SVG, no scripts, no network),
 * written atomically (QWriter).  Trees from files are hostile: every field is type-checked and a
 * bad one is an error naming the file and the field. */
#ifndef QUANT_REPORT_H
#define QUANT_REPORT_H

#include "quant/core.h"
#include "quant/svg.h"

struct cJSON;

/* Adds "run": {"command_line", "date" (UTC, ISO 8601), "cpu", "cores"} to a results tree. */
void report_add_run_info(struct cJSON *root, const char *command_line);

/* Writes the report of n result trees (each with a "command": basics | ptq-nn | qat | ptq-llm |
 * bench) to path; names[i] labels run i (its file name, or NULL for "this run").  anchors:
 * optional reference points for ptq-llm plots (the --compare file's tree, see docs/formats.md),
 * anchors_name its file name. */
int report_write(const char *path, struct cJSON *const *runs, const char *const *names, int n, const struct cJSON *anchors,
                 const char *anchors_name, QErr *err);

/* Reads a JSON file into a tree (freed with cJSON_Delete): -1 naming the file when it cannot be
 * read or is not JSON. */
int report_read_json(const char *path, struct cJSON **out, QErr *err);

#endif
