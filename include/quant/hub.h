/* hub.h — model names to local directories, the way Hugging Face tools find them:
 *   1. NAME is an existing directory: use it;
 *   2. the Hugging Face cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub,
 *      models--ORG--NAME/refs/<revision> holds a commit hash, files in snapshots/<hash>/;
 *   3. otherwise download from the Hub with libcurl into that same layout:
 *      {$HF_ENDPOINT or https://huggingface.co}/{repo}/resolve/{revision}/{file}, with
 *      "Authorization: Bearer $HF_TOKEN" when set, redirects followed, the commit taken from the
 *      X-Repo-Commit header.  Files: config.json; model.safetensors or
 *      model.safetensors.index.json and its shards; tokenizer.json or vocab.json + merges.txt;
 *      tokenizer_config.json and generation_config.json when present.
 * Files are written to "<file>.incomplete" and renamed only when complete (size checked against
 * Content-Length), so an interrupted download never looks finished.  Unlike huggingface_hub,
 * files are stored directly in snapshots/<hash>/ rather than as symlinks into blobs/.
 * HF_HUB_OFFLINE=1 forbids downloads.  A revision, and the X-Repo-Commit a server sends, must be
 * [A-Za-z0-9._-]+ without a leading dot (they become path components), else an error. */
#ifndef QUANT_HUB_H
#define QUANT_HUB_H

#include "quant/core.h"

typedef struct HubOpts {
    const char *revision;   /* default "main" */
    int offline;            /* also set by HF_HUB_OFFLINE=1 */
    int quiet;              /* no progress line */
} HubOpts;

/* *dir_out (malloc'ed) is a directory holding config.json, the weights and the tokenizer. */
int hub_resolve(const char *name, const HubOpts *opts, char **dir_out, QErr *err);

/* The pieces the dataset resolver (dataset.h) shares: the cache root (malloc'ed), the check
 * that a revision/commit/name is one safe path component, and one bounded download of url
 * into dest (via dest.incomplete; *.safetensors and *.parquet get the QUANT_HUB_MAX_BYTES
 * cap, other files 256 MiB): 0, the HTTP status with err set, or -1; commit receives the
 * X-Repo-Commit header when given. */
char *hub_cache_root(void);
int   hub_safe_component(const char *s);
long  hub_fetch(const char *url, const char *dest, const char *file, int quiet, char *commit, size_t commit_n, QErr *err);

#endif
