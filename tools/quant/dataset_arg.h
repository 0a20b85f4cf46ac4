/* dataset_arg.h — the text a command reads when no file is named: a split of a Hub dataset
 * (dataset.h), by default WikiText-2 raw (Salesforce/wikitext, wikitext-2-raw-v1).  Flags:
 * --dataset ORG/NAME, --dataset-config C, --dataset-revision R, --dataset-join raw|guide. */
#ifndef QUANT_TOOL_DATASET_ARG_H
#define QUANT_TOOL_DATASET_ARG_H

#include <cjson/cJSON.h>

#include "args.h"
#include "quant/dataset.h"

typedef struct DatasetArg {
    const char *repo, *config, *revision, *join_s;
    DatasetJoin join;
    int given;                 /* any of the flags was given */
} DatasetArg;

/* One split as text, with what the run records about it. */
typedef struct DatasetText {
    DatasetSplit split;
    uint8_t *text;
    size_t len;
    int64_t rows;
    char name[512];            /* "Salesforce/wikitext wikitext-2-raw-v1 test@<commit>" */
} DatasetText;

void dataset_arg_read(Args *a, DatasetArg *d);          /* before args_finish */
int  dataset_arg_check(DatasetArg *d, QErr *err);       /* --dataset-join; 0 ok */
int  dataset_arg_text(const DatasetArg *d, const char *split, DatasetText *t, QErr *err);
/* The one line that names the dataset, revision, split and files ("<role> from ..."). */
void dataset_text_describe(const DatasetArg *d, const DatasetText *t, const char *role, char *buf, size_t n);
/* {"repo", "config", "split", "revision", "commit", "files": [...], "rows", "bytes", "join", "cached"} */
cJSON *dataset_text_json(const DatasetArg *d, const DatasetText *t);
void dataset_text_free(DatasetText *t);

#endif
