/* dataset.h — text from a Hugging Face Hub dataset, found and cached the way the `datasets`
 * library's users know (docs/formats.md, "Datasets from the Hub"):
 *   - the repository's parquet files of one config and split, <config>/<split>-NNNNN-of-MMMMM.parquet
 *     (the layout the Hub serves for Salesforce/wikitext and datasets converted to parquet),
 *     listed with the Hub's tree API {endpoint}/api/datasets/<repo>/tree/<revision>/<config};
 *   - downloaded with the hub code (hub.h) into the Hugging Face cache:
 *     <cache>/datasets--<org>--<name>/refs/<revision> = commit,
 *     <cache>/datasets--<org>--<name>/snapshots/<commit>/<config>/<file>.parquet
 *     (files stored directly in the snapshot, as hub.c does for models); a complete set of
 *     shards in the cache is used without a request; HF_HUB_OFFLINE=1 forbids downloads;
 *   - read with the parquet reader (parquet.h): the string column `text`, rows joined.
 * The default is what the seed's command expects: WikiText-2 (raw), Salesforce/wikitext,
 * config wikitext-2-raw-v1; calibration from the train split, evaluation from the test split. */
#ifndef QUANT_DATASET_H
#define QUANT_DATASET_H

#include "quant/core.h"
#include "quant/hub.h"

#define DATASET_DEFAULT_REPO   "Salesforce/wikitext"
#define DATASET_DEFAULT_CONFIG "wikitext-2-raw-v1"

/* How rows become one text.
 * DATASET_JOIN_RAW: the rows are the lines of the file the dataset was made from, as WikiText's
 *   loading script made them (each line with its "\n"; a whitespace-only line became ""), so
 *   the text is rebuilt as that file: a non-empty row as is, an empty row as WikiText's blank
 *   line " \n".  For WikiText-2 raw the result is wiki.test.raw byte for byte, the file
 *   llama.cpp's perplexity reads, so figures compare with it and with `quant eval --text
 *   wiki.test.raw`.  A non-empty row without its final "\n" is an error (not WikiText).
 * DATASET_JOIN_GUIDE: "\n\n".join(rows), as the transformers perplexity guide does. */
typedef enum DatasetJoin { DATASET_JOIN_RAW = 0, DATASET_JOIN_GUIDE = 1 } DatasetJoin;
const char *dataset_join_name(DatasetJoin j);          /* "raw", "guide" */
int         dataset_join_parse(const char *s, DatasetJoin *j);  /* 0 ok, -1 unknown */

typedef struct DatasetSpec {
    const char *repo;      /* "org/name" (default DATASET_DEFAULT_REPO) */
    const char *config;    /* default DATASET_DEFAULT_CONFIG */
    const char *split;     /* "train", "validation", "test" */
    const char *revision;  /* default "main" */
} DatasetSpec;

typedef struct DatasetSplit {
    char repo[201], config[101], split[101], revision[101], commit[128];
    int n_files;
    char **files;          /* [n_files] repository paths: "<config>/<split>-00000-of-00001.parquet" */
    char **paths;          /* [n_files] the cached files */
    int from_cache;        /* 1: found complete in the cache, no request made */
} DatasetSplit;

/* Finds (cache) or downloads (hub) the split's parquet files. */
int  dataset_resolve(const DatasetSpec *s, const HubOpts *o, DatasetSplit *out, QErr *err);
/* The split's column `text`, the files' rows in order, joined: *text (malloc'ed, NUL-terminated
 * one past *len); *rows the row count. */
int  dataset_split_text(const DatasetSplit *d, DatasetJoin join, uint8_t **text, size_t *len, int64_t *rows, QErr *err);
void dataset_split_free(DatasetSplit *d);

/* Rows -> text by a join convention (the unit of dataset_split_text, exposed for tests):
 * rows[i] is data[off[i] .. off[i+1]); null[i] (may be NULL) marks a null row, an error. */
int  dataset_join_rows(const uint8_t *data, const int64_t *off, const uint8_t *null, int64_t n, DatasetJoin join,
                       const char *what, uint8_t **text, size_t *len, QErr *err);

#endif
