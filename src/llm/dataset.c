/* dataset.c — a Hub dataset's split as text (dataset.h): cache lookup, listing, download,
 * parquet rows joined. */
#include "quant/dataset.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant/checked.h"
#include "quant/parquet.h"

enum { MAX_SHARDS = 1024 };

const char *dataset_join_name(DatasetJoin j) { return j == DATASET_JOIN_GUIDE ? "guide" : "raw"; }
int dataset_join_parse(const char *s, DatasetJoin *j) {
    if (strcmp(s, "raw") == 0) *j = DATASET_JOIN_RAW;
    else if (strcmp(s, "guide") == 0) *j = DATASET_JOIN_GUIDE;
    else return -1;
    return 0;
}

/* "<split>-NNNNN-of-MMMMM.parquet" -> shard index and count; 0 when the name has that form. */
static int shard_name(const char *base, const char *split, int *idx, int *count) {
    size_t sl = strlen(split);
    if (strncmp(base, split, sl) != 0 || base[sl] != '-') return -1;
    const char *p = base + sl + 1;
    char tail[16];
    int a, b, n = 0;
    if (sscanf(p, "%5d-of-%5d%15s%n", &a, &b, tail, &n) != 3 || strcmp(tail, ".parquet") != 0 || p[n]) return -1;
    if (strlen(p) != strlen("00000-of-00001.parquet")) return -1; /* five digits each, as the Hub names them */
    if (b < 1 || b > MAX_SHARDS || a < 0 || a >= b) return -1;
    *idx = a;
    *count = b;
    return 0;
}

static void split_clear(DatasetSplit *d) {
    for (int i = 0; i < d->n_files; i++) {
        free(d->files ? d->files[i] : NULL);
        free(d->paths ? d->paths[i] : NULL);
    }
    free(d->files);
    free(d->paths);
    d->files = d->paths = NULL;
    d->n_files = 0;
}
void dataset_split_free(DatasetSplit *d) { split_clear(d); }

/* The complete shard set of the split in dir/<config>/, or 0 files. */
static int scan_snapshot(const char *snap, DatasetSplit *d) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/%s", snap, d->config);
    DIR *D = opendir(dir);
    if (!D) return 0;
    int count = -1, n = 0, ok = 1;
    char *seen[MAX_SHARDS] = {0};
    struct dirent *e;
    while ((e = readdir(D))) {
        int idx, c;
        if (shard_name(e->d_name, d->split, &idx, &c)) continue;
        if (count < 0) count = c;
        if (c != count || seen[idx]) ok = 0;
        if (!seen[idx]) seen[idx] = xstrdup(e->d_name), n++;
    }
    closedir(D);
    if (ok && count > 0 && n == count) {
        d->files = xcalloc((size_t)count, sizeof(char *));
        d->paths = xcalloc((size_t)count, sizeof(char *));
        d->n_files = count;
        for (int i = 0; i < count; i++) {
            char p[8800];
            snprintf(p, sizeof p, "%s/%s", d->config, seen[i]);
            d->files[i] = xstrdup(p);
            snprintf(p, sizeof p, "%s/%s", dir, seen[i]);
            d->paths[i] = xstrdup(p);
        }
    }
    for (int i = 0; i < MAX_SHARDS; i++) free(seen[i]);
    return d->n_files;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The listing: files of the split under <config>/, from the Hub's tree API (the single-shard
 * name when the server has no such API). */
static int list_split(const char *ep, DatasetSplit *d, const char *stage, int quiet, QErr *err) {
    char url[4096], dest[4700];
    snprintf(url, sizeof url, "%s/api/datasets/%s/tree/%s/%s", ep, d->repo, d->revision, d->config);
    snprintf(dest, sizeof dest, "%s/tree.json", stage);
    QErr e2;
    long st = hub_fetch(url, dest, "tree.json", 1, NULL, 0, &e2);
    int count = -1, n = 0, ok = 1;
    char *names[MAX_SHARDS] = {0};
    if (st == 404) { /* no listing: the one-shard name */
        names[0] = xstrdup(d->split);
        names[0] = xrealloc(names[0], strlen(d->split) + 32);
        strcat(names[0], "-00000-of-00001.parquet");
        count = n = 1;
    } else if (st != 0) {
        *err = e2;
        return -1;
    } else {
        uint8_t *buf;
        size_t len;
        if (qfile_read_all(dest, &buf, &len, err)) return -1;
        cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
        free(buf);
        if (!cJSON_IsArray(root)) {
            cJSON_Delete(root);
            return qerr_set(err, "%s: the listing is not a JSON array", url);
        }
        const cJSON *x;
        size_t cl = strlen(d->config);
        cJSON_ArrayForEach(x, root) {
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(x, "type"), *pa = cJSON_GetObjectItemCaseSensitive(x, "path");
            if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "file") != 0 || !cJSON_IsString(pa)) continue;
            const char *p = pa->valuestring;
            if (strncmp(p, d->config, cl) != 0 || p[cl] != '/' || strchr(p + cl + 1, '/')) continue;
            int idx, c;
            if (shard_name(p + cl + 1, d->split, &idx, &c)) continue;
            if (count < 0) count = c;
            if (c != count || names[idx]) ok = 0;
            else names[idx] = xstrdup(p + cl + 1), n++;
        }
        cJSON_Delete(root);
        unlink(dest);
    }
    int rc = 0;
    if (count < 0) rc = qerr_set(err, "%s: no parquet files of split '%s' (expected %s/%s-00000-of-NNNNN.parquet)", url, d->split, d->config, d->split);
    else if (!ok || n != count) rc = qerr_set(err, "%s: the shards of split '%s' are not one complete set (%d files of %d)", url, d->split, n, count);
    if (rc == 0) {
        d->files = xcalloc((size_t)count, sizeof(char *));
        d->paths = xcalloc((size_t)count, sizeof(char *));
        d->n_files = count;
        for (int i = 0; i < count; i++) {
            char p[512];
            snprintf(p, sizeof p, "%s/%s", d->config, names[i]);
            d->files[i] = xstrdup(p);
        }
    }
    for (int i = 0; i < MAX_SHARDS; i++) free(names[i]);
    (void)quiet;
    return rc;
}

static int download(const char *repo_dir, DatasetSplit *d, int quiet, QErr *err) {
    const char *ep = getenv("HF_ENDPOINT");
    if (!ep || !*ep) ep = "https://huggingface.co";
    char stage[4608];
    snprintf(stage, sizeof stage, "%s/.download-%ld", repo_dir, (long)getpid());
    if (qmkdir_p(stage, err)) return -1;
    int rc = -1;
    if (list_split(ep, d, stage, quiet, err)) goto out;
    char pin[128];
    snprintf(pin, sizeof pin, "%s", d->revision);
    for (int i = 0; i < d->n_files; i++) {
        const char *base = strrchr(d->files[i], '/') + 1;
        char url[4096], tmp[4700], snap[8800], dest[9000], commit[128] = "";
        /* after the first file, the commit it came from: every shard from the same one */
        snprintf(url, sizeof url, "%s/datasets/%s/resolve/%s/%s", ep, d->repo, pin, d->files[i]);
        snprintf(tmp, sizeof tmp, "%s/%s", stage, base);
        if (d->commit[0]) {
            snprintf(dest, sizeof dest, "%s/snapshots/%s/%s", repo_dir, d->commit, d->files[i]);
            if (qpath_exists(dest)) { /* an earlier run fetched it from this commit */
                d->paths[i] = xstrdup(dest);
                continue;
            }
        }
        if (hub_fetch(url, tmp, base, quiet, commit, sizeof commit, err)) goto out;
        if (!d->commit[0]) {
            snprintf(d->commit, sizeof d->commit, "%s", commit[0] ? commit : d->revision);
            if (!hub_safe_component(d->commit)) {
                qerr_set(err, "%s/%s: the server sent X-Repo-Commit '%s', not a commit hash", ep, d->repo, d->commit);
                goto out;
            }
            snprintf(pin, sizeof pin, "%s", d->commit);
        }
        snprintf(snap, sizeof snap, "%s/snapshots/%s/%s", repo_dir, d->commit, d->config);
        if (qmkdir_p(snap, err)) goto out;
        snprintf(dest, sizeof dest, "%s/%s", snap, base);
        if (rename(tmp, dest) != 0) {
            qerr_set(err, "%s: cannot move the download into place", dest);
            goto out;
        }
        d->paths[i] = xstrdup(dest);
    }
    char refs[4700];
    snprintf(refs, sizeof refs, "%s/refs", repo_dir);
    if (qmkdir_p(refs, err)) goto out;
    snprintf(refs, sizeof refs, "%s/refs/%s", repo_dir, d->revision);
    QWriter w;
    if (qwriter_open(&w, refs, err)) goto out;
    if (qwriter_write(&w, d->commit, strlen(d->commit), err)) {
        qwriter_abort(&w);
        goto out;
    }
    if (qwriter_commit(&w, err)) goto out;
    rc = 0;
out:
    nftw(stage, rm_entry, 16, FTW_DEPTH | FTW_PHYS); /* nothing half-done stays behind */
    return rc;
}

static int safe_repo(const char *r) {
    const char *slash = strchr(r, '/');
    if (!slash || strchr(slash + 1, '/') || strlen(r) > 200) return 0;
    char org[201];
    snprintf(org, sizeof org, "%.*s", (int)(slash - r), r);
    return hub_safe_component(org) && hub_safe_component(slash + 1);
}

int dataset_resolve(const DatasetSpec *s, const HubOpts *o, DatasetSplit *d, QErr *err) {
    memset(d, 0, sizeof *d);
    const char *repo = s->repo ? s->repo : DATASET_DEFAULT_REPO, *config = s->config ? s->config : DATASET_DEFAULT_CONFIG;
    const char *rev = s->revision ? s->revision : "main";
    if (!safe_repo(repo)) return qerr_set(err, "dataset '%s': expected a Hugging Face dataset name ORG/NAME", repo);
    if (!hub_safe_component(config)) return qerr_set(err, "dataset config '%s': letters, digits, '.', '_', '-' only", config);
    if (!s->split || !hub_safe_component(s->split)) return qerr_set(err, "dataset split '%s': letters, digits, '.', '_', '-' only", s->split ? s->split : "");
    if (!hub_safe_component(rev)) return qerr_set(err, "dataset revision '%s': expected a branch, tag or commit hash", rev);
    snprintf(d->repo, sizeof d->repo, "%s", repo);
    snprintf(d->config, sizeof d->config, "%s", config);
    snprintf(d->split, sizeof d->split, "%s", s->split);
    snprintf(d->revision, sizeof d->revision, "%s", rev);
    char *root = hub_cache_root(), repo_dir[4400], ref[4600], snap[4800];
    snprintf(repo_dir, sizeof repo_dir, "%s/datasets--", root);
    free(root);
    for (const char *p = repo; *p; p++) {
        size_t l = strlen(repo_dir);
        if (l + 3 >= sizeof repo_dir) break;
        if (*p == '/') strcat(repo_dir, "--");
        else repo_dir[l] = *p, repo_dir[l + 1] = 0;
    }
    /* the cache: refs/<rev> -> snapshots/<commit>, or a snapshot named by the revision itself */
    uint8_t *h;
    size_t hl;
    QErr e;
    snprintf(ref, sizeof ref, "%s/refs/%s", repo_dir, rev);
    if (qfile_read_all(ref, &h, &hl, &e) == 0) {
        while (hl && (h[hl - 1] == '\n' || h[hl - 1] == '\r' || h[hl - 1] == ' ')) h[--hl] = 0;
        if (hub_safe_component((char *)h)) {
            snprintf(snap, sizeof snap, "%s/snapshots/%s", repo_dir, (char *)h);
            if (scan_snapshot(snap, d)) snprintf(d->commit, sizeof d->commit, "%s", (char *)h);
        }
        free(h);
    }
    if (!d->n_files) {
        snprintf(snap, sizeof snap, "%s/snapshots/%s", repo_dir, rev);
        if (scan_snapshot(snap, d)) snprintf(d->commit, sizeof d->commit, "%s", rev);
    }
    if (d->n_files) {
        d->from_cache = 1;
        return 0;
    }
    const char *off = getenv("HF_HUB_OFFLINE");
    if ((o && o->offline) || (off && strcmp(off, "1") == 0))
        return qerr_set(err, "dataset %s (%s, split %s): not in the Hugging Face cache (%s) and HF_HUB_OFFLINE=1 forbids downloading", repo, config, s->split, repo_dir);
    if (qmkdir_p(repo_dir, err)) return -1;
    if (download(repo_dir, d, o && o->quiet, err)) {
        split_clear(d);
        return -1;
    }
    return 0;
}

int dataset_join_rows(const uint8_t *data, const int64_t *off, const uint8_t *null, int64_t n, DatasetJoin join,
                      const char *what, uint8_t **text, size_t *len, QErr *err) {
    *text = NULL;
    *len = 0;
    /* the size first (overflow-checked), then one allocation */
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (null && null[i]) return qerr_set(err, "%s: row %lld of column 'text' is null (a text dataset has a string in every row)", what, (long long)i);
        int64_t l = off[i + 1] - off[i];
        if (join == DATASET_JOIN_RAW) {
            if (l == 0) l = 2;
            else if (data[off[i + 1] - 1] != '\n')
                return qerr_set(err, "%s: row %lld does not end with a newline, so the rows are not the lines of a WikiText raw file; use --dataset-join guide", what, (long long)i);
        } else if (i > 0) {
            l += 2;
        }
        if (q_add_i64(total, l, &total)) return qerr_set(err, "%s: the joined text's size overflows", what);
    }
    uint8_t *t = xmalloc((size_t)total + 1);
    size_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t l = (size_t)(off[i + 1] - off[i]);
        if (join == DATASET_JOIN_RAW && l == 0) {
            memcpy(t + k, " \n", 2), k += 2;
            continue;
        }
        if (join == DATASET_JOIN_GUIDE && i > 0) memcpy(t + k, "\n\n", 2), k += 2;
        memcpy(t + k, data + off[i], l);
        k += l;
    }
    t[k] = 0;
    *text = t;
    *len = k;
    return 0;
}

int dataset_split_text(const DatasetSplit *d, DatasetJoin join, uint8_t **text, size_t *len, int64_t *rows, QErr *err) {
    *text = NULL;
    *len = 0;
    *rows = 0;
    uint8_t *acc = NULL;
    size_t acc_len = 0;
    for (int i = 0; i < d->n_files; i++) {
        PqStrings s;
        if (parquet_read_strings(d->paths[i], "text", NULL, &s, err)) {
            free(acc);
            return -1;
        }
        uint8_t *t;
        size_t tl;
        int rc = dataset_join_rows(s.data, s.off, s.null, s.n, join, d->paths[i], &t, &tl, err);
        *rows += s.n;
        parquet_strings_free(&s);
        if (rc) {
            free(acc);
            return -1;
        }
        /* shards continue one another: the guide's separator also stands between them */
        size_t sep = join == DATASET_JOIN_GUIDE && i > 0 ? 2 : 0;
        acc = xrealloc(acc, acc_len + sep + tl + 1);
        if (sep) memcpy(acc + acc_len, "\n\n", 2);
        memcpy(acc + acc_len + sep, t, tl);
        acc_len += sep + tl;
        acc[acc_len] = 0;
        free(t);
    }
    *text = acc;
    *len = acc_len;
    return 0;
}
