/* dataset_arg.c — see dataset_arg.h. */
#include "dataset_arg.h"

#include <stdlib.h>
#include <string.h>

void dataset_arg_read(Args *a, DatasetArg *d) {
    memset(d, 0, sizeof *d);
    d->given = args_has(a, "dataset") || args_has(a, "dataset-config") || args_has(a, "dataset-revision") ||
               args_has(a, "dataset-join");
    d->repo = args_str(a, "dataset", DATASET_DEFAULT_REPO);
    d->config = args_str(a, "dataset-config", DATASET_DEFAULT_CONFIG);
    d->revision = args_str(a, "dataset-revision", "main");
    d->join_s = args_str(a, "dataset-join", "raw");
}

int dataset_arg_check(DatasetArg *d, QErr *err) {
    if (dataset_join_parse(d->join_s, &d->join))
        return qerr_set(err, "--dataset-join %s: expected raw (rows are the lines of the raw file) or guide (\"\\n\\n\".join(rows))", d->join_s);
    return 0;
}

int dataset_arg_text(const DatasetArg *d, const char *split, DatasetText *t, QErr *err) {
    memset(t, 0, sizeof *t);
    DatasetSpec s = {d->repo, d->config, split, d->revision};
    HubOpts o = {d->revision, 0, 0};
    if (dataset_resolve(&s, &o, &t->split, err)) return -1;
    if (dataset_split_text(&t->split, d->join, &t->text, &t->len, &t->rows, err)) {
        dataset_split_free(&t->split);
        return -1;
    }
    snprintf(t->name, sizeof t->name, "%s %s %s@%.12s", d->repo, d->config, split, t->split.commit);
    return 0;
}

void dataset_text_describe(const DatasetArg *d, const DatasetText *t, const char *role, char *buf, size_t n) {
    const DatasetSplit *s = &t->split;
    int k = snprintf(buf, n, "%s from dataset %s (config %s), revision %s = commit %s%s, split %s: ", role, s->repo, s->config,
                     s->revision, s->commit, s->from_cache ? " (cached)" : "", s->split);
    for (int i = 0; i < s->n_files && k > 0 && (size_t)k < n; i++) k += snprintf(buf + k, n - (size_t)k, "%s%s", i ? ", " : "", s->files[i]);
    if (k > 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, "; %lld rows joined %s, %zu bytes", (long long)t->rows,
                 d->join == DATASET_JOIN_RAW ? "as the raw file's lines" : "with \"\\n\\n\"", t->len);
}

cJSON *dataset_text_json(const DatasetArg *d, const DatasetText *t) {
    const DatasetSplit *s = &t->split;
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "repo", s->repo);
    cJSON_AddStringToObject(x, "config", s->config);
    cJSON_AddStringToObject(x, "split", s->split);
    cJSON_AddStringToObject(x, "revision", s->revision);
    cJSON_AddStringToObject(x, "commit", s->commit);
    cJSON *f = cJSON_AddArrayToObject(x, "files");
    for (int i = 0; i < s->n_files; i++) cJSON_AddItemToArray(f, cJSON_CreateString(s->files[i]));
    cJSON_AddNumberToObject(x, "rows", (double)t->rows);
    cJSON_AddNumberToObject(x, "bytes", (double)t->len);
    cJSON_AddStringToObject(x, "join", dataset_join_name(d->join));
    cJSON_AddBoolToObject(x, "cached", s->from_cache);
    return x;
}

void dataset_text_free(DatasetText *t) {
    free(t->text);
    dataset_split_free(&t->split);
    memset(t, 0, sizeof *t);
}
