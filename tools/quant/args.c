/* args.c — see args.h. */
#include "args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *normalise(const char *s, size_t n) {
    char *r = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) r[i] = s[i] == '_' ? '-' : s[i];
    r[n] = 0;
    return r;
}

/* "quant CMD ARGS...", each argument quoted when the shell would need it (for reports) */
static char *command_line(int argc, char **argv) {
    size_t n = 8;
    for (int i = 0; i < argc; i++) n += 4 * strlen(argv[i]) + 3;
    char *s = xmalloc(n), *p = s;
    p += sprintf(p, "quant");
    for (int i = 0; i < argc; i++) {
        int plain = argv[i][0] != 0;
        for (const char *c = argv[i]; *c; c++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+@%", *c)) plain = 0;
        *p++ = ' ';
        if (plain) {
            p += sprintf(p, "%s", argv[i]);
            continue;
        }
        *p++ = '\'';
        for (const char *c = argv[i]; *c; c++) {
            if (*c == '\'') p += sprintf(p, "'\\''");
            else *p++ = *c;
        }
        *p++ = '\'';
        *p = 0;
    }
    return s;
}

int args_parse(Args *a, int argc, char **argv, QErr *err) {
    memset(a, 0, sizeof *a);
    a->cmdline = command_line(argc, argv);
    a->names = xcalloc((size_t)argc + 1, sizeof(char *));
    a->values = xcalloc((size_t)argc + 1, sizeof(char *));
    a->used = xcalloc((size_t)argc + 1, sizeof(int));
    a->pos = xcalloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) != 0 || s[2] == 0) {
            a->pos[a->npos++] = xstrdup(s);
            continue;
        }
        s += 2;
        const char *eq = strchr(s, '=');
        if (eq == s) return qerr_set(err, "malformed flag '%s'", argv[i]);
        if (eq) {
            a->names[a->n] = normalise(s, (size_t)(eq - s));
            a->values[a->n] = xstrdup(eq + 1);
        } else {
            a->names[a->n] = normalise(s, strlen(s));
            if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) a->values[a->n] = xstrdup(argv[++i]);
            else a->values[a->n] = xstrdup("true");
        }
        a->n++;
    }
    return 0;
}

void args_free(Args *a) {
    for (int i = 0; i < a->n; i++) {
        free(a->names[i]);
        free(a->values[i]);
    }
    for (int i = 0; i < a->npos; i++) free(a->pos[i]);
    free(a->names);
    free(a->values);
    free(a->used);
    free(a->pos);
    free(a->cmdline);
    memset(a, 0, sizeof *a);
}

/* The last occurrence wins, as in most CLIs; all occurrences count as used. */
static int find(Args *a, const char *name) {
    int k = -1;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], name) == 0) {
            a->used[i] = 1;
            k = i;
        }
    return k;
}

int args_has(Args *a, const char *name) { return find(a, name) >= 0; }

const char *args_str(Args *a, const char *name, const char *def) {
    int k = find(a, name);
    return k >= 0 ? a->values[k] : def;
}

int args_int(Args *a, const char *name, long def, long lo, long hi, long *out, QErr *err) {
    int k = find(a, name);
    if (k < 0) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(a->values[k], &end, 10);
    if (errno || end == a->values[k] || *end)
        return qerr_set(err, "--%s: '%s' is not an integer", name, a->values[k]);
    if (v < lo || v > hi) return qerr_set(err, "--%s: %ld is outside [%ld, %ld]", name, v, lo, hi);
    *out = v;
    return 0;
}

int args_double(Args *a, const char *name, double def, double lo, double hi, double *out, QErr *err) {
    int k = find(a, name);
    if (k < 0) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(a->values[k], &end);
    if (errno || end == a->values[k] || *end || v != v)
        return qerr_set(err, "--%s: '%s' is not a number", name, a->values[k]);
    if (v < lo || v > hi) return qerr_set(err, "--%s: %g is outside [%g, %g]", name, v, lo, hi);
    *out = v;
    return 0;
}

int args_bool(Args *a, const char *name, int def, int *out, QErr *err) {
    int k = find(a, name);
    if (k < 0) {
        *out = def;
        return 0;
    }
    const char *v = a->values[k];
    static const char *yes[] = {"true", "1", "yes", "on"}, *no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0) return *out = 0, 0;
    }
    return qerr_set(err, "--%s: '%s' is not a boolean (True/False)", name, v);
}

int args_str_list(Args *a, const char *name, const char *def, char ***out, int *count, QErr *err) {
    const char *s = args_str(a, name, def);
    *out = NULL;
    *count = 0;
    if (!s) return 0;
    char **list = xcalloc(strlen(s) + 2, sizeof(char *));
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == 0) {
            args_free_list(list, n);
            return qerr_set(err, "--%s: empty item in '%s'", name, s);
        }
        list[n] = xmalloc(len + 1);
        memcpy(list[n], p, len);
        list[n++][len] = 0;
        if (!c) break;
        p = c + 1;
    }
    *out = list;
    *count = n;
    return 0;
}

void args_free_list(char **list, int count) {
    for (int i = 0; i < count; i++) free(list[i]);
    free(list);
}

int args_int_list(Args *a, const char *name, const char *def, long lo, long hi, long **out, int *count, QErr *err) {
    char **items;
    int n;
    *out = NULL;
    *count = 0;
    if (args_str_list(a, name, def, &items, &n, err)) return -1;
    long *v = xcalloc((size_t)n + 1, sizeof(long));
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        v[i] = strtol(items[i], &end, 10);
        if (errno || end == items[i] || *end || v[i] < lo || v[i] > hi) {
            qerr_set(err, "--%s: '%s' is not an integer in [%ld, %ld]", name, items[i], lo, hi);
            args_free_list(items, n);
            free(v);
            return -1;
        }
    }
    args_free_list(items, n);
    *out = v;
    *count = n;
    return 0;
}

int args_finish(Args *a, QErr *err) {
    for (int i = 0; i < a->n; i++)
        if (!a->used[i]) return qerr_set(err, "unknown flag --%s (see 'quant help')", a->names[i]);
    if (a->npos) return qerr_set(err, "unexpected argument '%s'", a->pos[0]);
    return 0;
}
