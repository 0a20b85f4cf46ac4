/* hub.c — local directories, the Hugging Face cache, and downloads from the Hub (hub.h). */
#include "quant/hub.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}
/* rm -rf dir (a staging directory of our own) */
static void rmtree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static char *cache_root(void) {
    const char *c = getenv("HF_HUB_CACHE"), *h = getenv("HF_HOME"), *home = getenv("HOME");
    char buf[4096];
    if (c && *c) return xstrdup(c);
    if (h && *h) snprintf(buf, sizeof buf, "%s/hub", h);
    else snprintf(buf, sizeof buf, "%s/.cache/huggingface/hub", home && *home ? home : ".");
    return xstrdup(buf);
}

/* "org/name" -> "models--org--name" */
static void repo_folder(const char *name, char *out, size_t n) {
    size_t o = (size_t)snprintf(out, n, "models--");
    for (const char *p = name; *p && o + 3 < n; p++) {
        if (*p == '/') {
            out[o++] = '-';
            out[o++] = '-';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = 0;
}

static int file_in(const char *dir, const char *f) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, f);
    return qpath_exists(p);
}

/* A snapshot is usable with a config, weights (and every shard) and a tokenizer. */
static int snapshot_complete(const char *dir) {
    if (!file_in(dir, "config.json")) return 0;
    if (!file_in(dir, "tokenizer.json") && !(file_in(dir, "vocab.json") && file_in(dir, "merges.txt"))) return 0;
    if (file_in(dir, "model.safetensors")) return 1;
    char p[4200];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    uint8_t *d;
    size_t n;
    QErr e;
    if (qfile_read_all(p, &d, &n, &e)) return 0;
    cJSON *root = cJSON_ParseWithLength((const char *)d, n);
    free(d);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    int ok = cJSON_IsObject(wm);
    for (const cJSON *x = ok ? wm->child : NULL; x && ok; x = x->next) ok = cJSON_IsString(x) && file_in(dir, x->valuestring);
    cJSON_Delete(root);
    return ok;
}

/* A revision or commit becomes a path component (refs/<rev>, snapshots/<commit>): letters,
 * digits, '.', '_', '-' only and no leading '.', so neither a flag nor a server's X-Repo-Commit
 * header can point outside the cache. */
static int safe_component(const char *s) {
    if (!*s || s[0] == '.' || strlen(s) > 100) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* ------------------------------------------------------------ downloading */
/* A server is as hostile as a file: every response is bounded.  Size: config and tokenizer
 * files at most SMALL_FILE_MAX bytes, weights at most $QUANT_HUB_MAX_BYTES (default 1 TiB),
 * checked against Content-Length before the body and against the bytes received while it
 * arrives (a chunked response has no length).  Time: a transfer slower than 1 KiB/s for
 * $QUANT_HUB_STALL_SECONDS (default 60) is dropped, so a slow or silent server cannot hold a
 * download forever.  Requests: 10 redirects per file, http(s) only (a redirect to file:// or
 * another protocol is refused), at most MAX_SHARDS shard files per model. */
enum { MAX_SHARDS = 4096 };
#define SMALL_FILE_MAX (256LL << 20)

static long long env_ll(const char *name, long long def) {
    const char *v = getenv(name);
    char *end;
    long long x = v && *v ? strtoll(v, &end, 10) : def;
    return v && *v && *end == 0 && x > 0 ? x : def;
}

typedef struct Dl {
    FILE *f;
    char commit[128];
    long long content_length;
    long long cap, got;   /* byte cap for this file, bytes written so far */
    int over_cap;
    QProgress *prog;
    const char *file;
    double t0;
    int quiet;
} Dl;

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
    Dl *d = ud;
    size_t len = size * n;
    if (len > 14 && strncasecmp(buf, "x-repo-commit:", 14) == 0) {
        const char *v = buf + 14;
        while (*v == ' ') v++;
        size_t k = 0;
        while (v + k < buf + len && v[k] != '\r' && v[k] != '\n' && k + 1 < sizeof d->commit) k++;
        memcpy(d->commit, v, k);
        d->commit[k] = 0;
    }
    if (len > 15 && strncasecmp(buf, "content-length:", 15) == 0) {
        d->content_length = atoll(buf + 15);
        if (d->content_length > d->cap) { /* refused before the body: a different count aborts */
            d->over_cap = 1;
            return 0;
        }
    }
    if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) d->content_length = -1; /* a new response (redirect) */
    return len;
}

static size_t on_data(char *buf, size_t size, size_t n, void *ud) {
    Dl *d = ud;
    if ((long long)(size * n) > d->cap - d->got) { /* returning less than given aborts */
        d->over_cap = 1;
        return 0;
    }
    d->got += (long long)(size * n);
    return d->f ? fwrite(buf, size, n, d->f) * size : size * n;
}

static int on_progress(void *ud, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un) {
    (void)ut;
    (void)un;
    Dl *d = ud;
    if (!d->quiet && total > 0) {
        double dt = qtime_now() - d->t0;
        qprogress_frac(d->prog, (double)now / (double)total);
        qprogress_update(d->prog, "download %s: %.1f / %.1f MB (%.1f MB/s)", d->file, now / 1e6, total / 1e6,
                         dt > 0 ? now / 1e6 / dt : 0.0);
    }
    return 0;
}

/* GET url into dest (via dest.incomplete).  Returns 0, or the HTTP status (404...) with err set,
 * or -1 on a transport error. */
static long fetch(const char *url, const char *dest, const char *file, int quiet, char *commit, size_t commit_n, QErr *err) {
    size_t fl = strlen(file);
    const int weights = (fl > 12 && strcmp(file + fl - 12, ".safetensors") == 0) || (fl > 8 && strcmp(file + fl - 8, ".parquet") == 0);
    char tmp[8320];
    snprintf(tmp, sizeof tmp, "%s.incomplete", dest);
    Dl d = {0};
    d.f = fopen(tmp, "wb");
    if (!d.f) return qerr_set(err, "%s: cannot create", tmp), -1;
    QProgress prog;
    qprogress_init(&prog);
    d.prog = &prog;
    d.file = file;
    d.t0 = qtime_now();
    d.quiet = quiet;
    d.content_length = -1;
    d.cap = weights ? env_ll("QUANT_HUB_MAX_BYTES", 1LL << 40) : SMALL_FILE_MAX;
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    const char *tok = getenv("HF_TOKEN");
    char auth[1024];
    if (tok && *tok) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
        hdr = curl_slist_append(hdr, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "quant/1");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &d);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &d);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)env_ll("QUANT_HUB_STALL_SECONDS", 60));
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t got = 0;
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    qprogress_done(&prog);
    int closed = fclose(d.f) == 0;
    long ret = 0;
    if (d.over_cap) {
        qerr_set(err, "%s: response larger than the %lld bytes allowed for %s (%s)", url, d.cap, file,
                 weights ? "QUANT_HUB_MAX_BYTES" : "a config or tokenizer file");
        ret = -1;
    } else if (rc != CURLE_OK) {
        qerr_set(err, "%s: download failed: %s", url, curl_easy_strerror(rc));
        ret = -1;
    } else if (status != 200) {
        qerr_set(err, "%s: HTTP %ld%s", url, status,
                 status == 401 || status == 403 ? " (a gated or private model: set HF_TOKEN)" : status == 404 ? " (not found)" : "");
        ret = status ? status : -1;
    } else if (!closed || (d.content_length >= 0 && got != d.content_length)) {
        qerr_set(err, "%s: incomplete download (%lld of %lld bytes)", url, (long long)got, d.content_length);
        ret = -1;
    }
    if (ret != 0) {
        unlink(tmp);
        return ret;
    }
    if (rename(tmp, dest) != 0) {
        unlink(tmp);
        return qerr_set(err, "%s: cannot rename into place", dest), -1;
    }
    if (commit && d.commit[0]) snprintf(commit, commit_n, "%s", d.commit);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int download(const char *name, const char *rev, const char *repo_dir, int quiet, char **dir_out, QErr *err) {
    const char *ep = getenv("HF_ENDPOINT");
    if (!ep || !*ep) ep = "https://huggingface.co";
    char stage[4608], url[8192], dest[8192], commit[128] = "";
    /* files land in a staging snapshot first; it is renamed to snapshots/<commit> at the end */
    snprintf(stage, sizeof stage, "%s/snapshots/.download-%ld", repo_dir, (long)getpid());
    if (qmkdir_p(stage, err)) return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = -1;
    /* from index 3 on optional: the special tokens and stop ids (tokenizer_special.c) */
    const char *files[] = {"config.json",           "model.safetensors",      "tokenizer.json",
                           "tokenizer_config.json", "generation_config.json", "special_tokens_map.json"};
    for (int i = 0; i < (int)(sizeof files / sizeof files[0]); i++) {
        snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", ep, name, rev, files[i]);
        snprintf(dest, sizeof dest, "%s/%s", stage, files[i]);
        QErr e2;
        long st = fetch(url, dest, files[i], quiet, i == 0 ? commit : NULL, sizeof commit, &e2);
        if (st == 0) continue;
        if (st == 404 && i == 1) { /* sharded weights */
            snprintf(url, sizeof url, "%s/%s/resolve/%s/model.safetensors.index.json", ep, name, rev);
            snprintf(dest, sizeof dest, "%s/model.safetensors.index.json", stage);
            if (fetch(url, dest, "model.safetensors.index.json", quiet, NULL, 0, err)) goto out;
            uint8_t *d;
            size_t n;
            if (qfile_read_all(dest, &d, &n, err)) goto out;
            cJSON *root = cJSON_ParseWithLength((const char *)d, n);
            free(d);
            const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
            if (!cJSON_IsObject(wm)) {
                cJSON_Delete(root);
                qerr_set(err, "%s: no weight_map in model.safetensors.index.json", url);
                goto out;
            }
            /* bounded before the first request: the distinct shard files the index names */
            int nent = cJSON_GetArraySize(wm), nshards = 0;
            const char **names = xmalloc((size_t)(nent + 1) * sizeof *names);
            for (const cJSON *x = wm->child; x; x = x->next)
                if (cJSON_IsString(x)) names[nshards++] = x->valuestring;
            qsort(names, (size_t)nshards, sizeof *names, cmp_str);
            int distinct = 0;
            for (int k = 0; k < nshards; k++) distinct += k == 0 || strcmp(names[k], names[k - 1]) != 0;
            free(names);
            if (distinct > MAX_SHARDS) {
                cJSON_Delete(root);
                qerr_set(err, "%s: the index names %d shard files, more than %d", url, distinct, MAX_SHARDS);
                goto out;
            }
            for (const cJSON *x = wm->child; x; x = x->next) {
                if (!cJSON_IsString(x) || !x->valuestring[0] || strchr(x->valuestring, '/') || x->valuestring[0] == '.') {
                    cJSON_Delete(root);
                    qerr_set(err, "%s: bad shard name in the index", url);
                    goto out;
                }
                snprintf(dest, sizeof dest, "%s/%s", stage, x->valuestring);
                if (qpath_exists(dest)) continue;
                snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", ep, name, rev, x->valuestring);
                if (fetch(url, dest, x->valuestring, quiet, NULL, 0, err)) {
                    cJSON_Delete(root);
                    goto out;
                }
            }
            cJSON_Delete(root);
            continue;
        }
        if (st == 404 && i == 2) { /* GPT-2 style tokenizer files */
            const char *alt[2] = {"vocab.json", "merges.txt"};
            for (int k = 0; k < 2; k++) {
                snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", ep, name, rev, alt[k]);
                snprintf(dest, sizeof dest, "%s/%s", stage, alt[k]);
                if (fetch(url, dest, alt[k], quiet, NULL, 0, err)) goto out;
            }
            continue;
        }
        if (st == 404 && i >= 3) continue; /* optional */
        *err = e2;
        goto out;
    }
    if (!commit[0]) snprintf(commit, sizeof commit, "%s", rev);
    if (!safe_component(commit)) {
        qerr_set(err, "%s/%s: the server sent X-Repo-Commit '%s', not a commit hash", ep, name, commit);
        goto out;
    }
    char snap[8192], refs[8192];
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo_dir, commit);
    if (qpath_is_dir(snap)) { /* a concurrent or earlier complete download: keep it */
        rmtree(stage);
    } else if (rename(stage, snap) != 0) {
        qerr_set(err, "%s: cannot move the download into place", snap);
        goto out;
    }
    snprintf(refs, sizeof refs, "%s/refs", repo_dir);
    if (qmkdir_p(refs, err)) goto out;
    snprintf(refs, sizeof refs, "%s/refs/%s", repo_dir, rev);
    QWriter w;
    if (qwriter_open(&w, refs, err) == 0) {
        if (qwriter_write(&w, commit, strlen(commit), err) == 0) qwriter_commit(&w, err);
        else qwriter_abort(&w);
    }
    *dir_out = xstrdup(snap);
    rc = 0;
out:
    if (rc) rmtree(stage); /* nothing half-done stays behind */
    curl_global_cleanup();
    return rc;
}

int hub_resolve(const char *name, const HubOpts *opts, char **dir_out, QErr *err) {
    *dir_out = NULL;
    if (!name || !*name) return qerr_set(err, "empty model name");
    if (qpath_is_dir(name)) {
        *dir_out = xstrdup(name);
        return 0;
    }
    if (strstr(name, "..") || name[0] == '/' || strchr(name, '\'') || strlen(name) > 200)
        return qerr_set(err, "'%s' is neither a directory nor a Hugging Face model name (org/name)", name);
    const char *rev = opts && opts->revision ? opts->revision : "main";
    if (!safe_component(rev)) return qerr_set(err, "revision '%s': expected a branch, tag or commit hash", rev);
    const char *off = getenv("HF_HUB_OFFLINE");
    int offline = (opts && opts->offline) || (off && strcmp(off, "1") == 0);
    char *root = cache_root(), folder[512], repo[4400], ref[4600], snap[4800];
    repo_folder(name, folder, sizeof folder);
    snprintf(repo, sizeof repo, "%s/%s", root, folder);
    free(root);
    /* cached: refs/<rev> -> snapshots/<hash> (or a snapshot named by the revision itself) */
    snprintf(ref, sizeof ref, "%s/refs/%s", repo, rev);
    uint8_t *h;
    size_t hl;
    QErr e;
    if (qfile_read_all(ref, &h, &hl, &e) == 0) {
        while (hl && (h[hl - 1] == '\n' || h[hl - 1] == '\r' || h[hl - 1] == ' ')) h[--hl] = 0;
        snprintf(snap, sizeof snap, "%s/snapshots/%s", repo, (char *)h);
        free(h);
        if (snapshot_complete(snap)) return *dir_out = xstrdup(snap), 0;
    }
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo, rev);
    if (snapshot_complete(snap)) return *dir_out = xstrdup(snap), 0;
    if (offline)
        return qerr_set(err, "%s: not in the Hugging Face cache (%s) and HF_HUB_OFFLINE=1 forbids downloading", name, repo);
    return download(name, rev, repo, opts && opts->quiet, dir_out, err);
}

/* ------------------------------------------------ shared with dataset.c */
char *hub_cache_root(void) { return cache_root(); }
int hub_safe_component(const char *s) { return safe_component(s); }
long hub_fetch(const char *url, const char *dest, const char *file, int quiet, char *commit, size_t commit_n, QErr *err) {
    return fetch(url, dest, file, quiet, commit, commit_n, err);
}
