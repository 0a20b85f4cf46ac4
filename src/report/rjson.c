/* rjson.c — checked access to results trees, the run's facts, reading JSON files. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report_internal.h"

int rj_fail(RPage *pg, const RRun *r, const char *fmt, ...) {
    if (pg->failed) return -1;
    pg->failed = 1;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qerr_set(pg->err, "%s: %s", r->name, msg);
}

static const char *obj_name(const cJSON *o) { return o && o->string ? o->string : "an element"; }

double rj_num(RPage *pg, const RRun *r, const cJSON *o, const char *key, double def) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v || cJSON_IsNull(v)) return def;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        rj_fail(pg, r, "field \"%s\" of %s: expected a finite number", key, obj_name(o));
        return def;
    }
    return v->valuedouble;
}

int rj_int(RPage *pg, const RRun *r, const cJSON *o, const char *key, int def) {
    double v = rj_num(pg, r, o, key, def);
    if (!(v >= -1e9 && v <= 1e9)) {
        rj_fail(pg, r, "field \"%s\" of %s: %g is out of range", key, obj_name(o), v);
        return def;
    }
    return (int)v;
}

const char *rj_str(RPage *pg, const RRun *r, const cJSON *o, const char *key, const char *def) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v) return def;
    if (!cJSON_IsString(v)) {
        rj_fail(pg, r, "field \"%s\" of %s: expected a string", key, obj_name(o));
        return def;
    }
    return v->valuestring;
}

const cJSON *rj_arr(RPage *pg, const RRun *r, const cJSON *o, const char *key) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v) return NULL;
    if (!cJSON_IsArray(v)) {
        rj_fail(pg, r, "field \"%s\" of %s: expected an array", key, obj_name(o));
        return NULL;
    }
    return v;
}

const cJSON *rj_obj(RPage *pg, const RRun *r, const cJSON *o, const char *key) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v) return NULL;
    if (!cJSON_IsObject(v)) {
        rj_fail(pg, r, "field \"%s\" of %s: expected an object", key, obj_name(o));
        return NULL;
    }
    return v;
}

int rj_nums(RPage *pg, const RRun *r, const cJSON *arr, const char *what, int max, double **out) {
    *out = NULL;
    if (!arr) return 0;
    int n = cJSON_GetArraySize(arr);
    if (n > max) return rj_fail(pg, r, "%s: %d values, at most %d expected", what, n, max);
    if (n == 0) return 0;
    double *v = xmalloc((size_t)n * sizeof(double));
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
            free(v);
            return rj_fail(pg, r, "%s[%d]: expected a finite number", what, i);
        }
        v[i++] = e->valuedouble;
    }
    *out = v;
    return n;
}

void run_label(const RRun *r, int n_runs, const char *what, char *buf, size_t n) {
    if (n_runs > 1) snprintf(buf, n, "%s: %s", r->name, what);
    else snprintf(buf, n, "%s", what);
}

/* "AMD EPYC 9B14" from /proc/cpuinfo's first "model name" line */
static void cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *c = strchr(line, ':');
        if (!c) break;
        c++;
        while (*c == ' ' || *c == '\t') c++;
        snprintf(buf, n, "%s", c);
        size_t k = strlen(buf);
        while (k && (buf[k - 1] == '\n' || buf[k - 1] == ' ')) buf[--k] = 0;
        break;
    }
    fclose(f);
}

void report_add_run_info(cJSON *root, const char *command_line) {
    cJSON *run = cJSON_CreateObject();
    cJSON_AddStringToObject(run, "command_line", command_line ? command_line : "");
    char date[64], cpu[256];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(run, "date", date);
    cpu_model(cpu, sizeof cpu);
    cJSON_AddStringToObject(run, "cpu", cpu);
    cJSON_AddNumberToObject(run, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_DeleteItemFromObjectCaseSensitive(root, "run");
    cJSON_AddItemToObject(root, "run", run);
}

int report_read_json(const char *path, cJSON **out, QErr *err) {
    uint8_t *b;
    size_t n;
    *out = NULL;
    if (qfile_read_all(path, &b, &n, err)) return -1;
    if (strlen((const char *)b) != n) {
        free(b);
        return qerr_set(err, "%s: a NUL byte inside: not a JSON text", path);
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts((const char *)b, &end, 1);
    if (!j) {
        size_t off = end ? (size_t)(end - (const char *)b) : 0;
        free(b);
        return qerr_set(err, "%s: not valid JSON (near byte %zu)", path, off);
    }
    free(b);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return qerr_set(err, "%s: expected a JSON object at the top", path);
    }
    *out = j;
    return 0;
}
