/* thrift_compact.c — the checked compact-protocol reader (thrift_compact.h).
 * Wire format (Apache Thrift, compact protocol): integers are ULEB128 varints of the zigzag
 * mapping; a field header is one byte, the high nibble the id delta (0: an explicit zigzag
 * i16 id follows), the low nibble the type; booleans live in the type nibble; binary is a
 * varint length then the bytes; a list header's high nibble is the size (15: a varint size
 * follows), its low nibble the element type; a map is a varint size then one byte of key and
 * value types (absent for an empty map). */
#include "thrift_compact.h"

#include <stdarg.h>
#include <stdio.h>

void tc_init(TcReader *r, const uint8_t *base, const uint8_t *p, const uint8_t *end, const char *path, const char *what,
             QErr *err) {
    r->base = base;
    r->p = p;
    r->end = end;
    r->depth = 0;
    r->bad = 0;
    r->path = path;
    r->what = what;
    r->err = err;
}

int tc_fail(TcReader *r, const char *fmt, ...) {
    if (r->bad) return -1;
    r->bad = 1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qerr_set(r->err, "%s: parquet %s at byte %lld: %s", r->path, r->what, (long long)(r->p - r->base), msg);
    r->p = r->end;
    return -1;
}

static uint64_t varint(TcReader *r) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->bad) return 0;
        if (r->p >= r->end) return tc_fail(r, "truncated varint"), 0;
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0x7e)) return tc_fail(r, "varint longer than 64 bits"), 0;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    return tc_fail(r, "varint longer than 10 bytes"), 0;
}

static int64_t zigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

int64_t tc_i64(TcReader *r) { return zigzag(varint(r)); }

int32_t tc_i32(TcReader *r) {
    int64_t v = tc_i64(r);
    if (v < INT32_MIN || v > INT32_MAX) return tc_fail(r, "value %lld does not fit in i32", (long long)v), 0;
    return (int32_t)v;
}

int tc_field(TcReader *r, int16_t *last_id, int16_t *id, int *type) {
    if (r->bad) return 0;
    if (r->p >= r->end) return tc_fail(r, "truncated: a struct ends without its STOP byte"), 0;
    uint8_t b = *r->p++;
    if (b == 0) return 0;
    *type = b & 15;
    int delta = b >> 4;
    if (delta) {
        int v = *last_id + delta;
        if (v > INT16_MAX) return tc_fail(r, "field id past 32767"), 0;
        *id = (int16_t)v;
    } else {
        int64_t v = tc_i64(r);
        if (v < INT16_MIN || v > INT16_MAX) return tc_fail(r, "field id %lld does not fit in i16", (long long)v), 0;
        *id = (int16_t)v;
    }
    if (*type > TC_STRUCT) return tc_fail(r, "field %d has unknown type code %d", *id, *type), 0;
    *last_id = *id;
    return !r->bad;
}

const uint8_t *tc_binary(TcReader *r, size_t *len) {
    uint64_t n = varint(r);
    *len = 0;
    if (r->bad) return NULL;
    if (n > (uint64_t)(r->end - r->p)) return tc_fail(r, "a string of %llu bytes runs past the end (%lld left)", (unsigned long long)n, (long long)(r->end - r->p)), NULL;
    const uint8_t *s = r->p;
    r->p += n;
    *len = (size_t)n;
    return s;
}

int64_t tc_list(TcReader *r, int *elem) {
    if (r->bad) return 0;
    if (r->p >= r->end) return tc_fail(r, "truncated list header"), 0;
    uint8_t b = *r->p++;
    *elem = b & 15;
    uint64_t n = b >> 4;
    if (n == 15) n = varint(r);
    if (r->bad) return 0;
    if (*elem > TC_STRUCT || *elem == TC_STOP) return tc_fail(r, "list of unknown element type %d", *elem), 0;
    /* every element takes at least one byte */
    if (n > (uint64_t)(r->end - r->p)) return tc_fail(r, "a list of %llu elements cannot fit in the %lld bytes left", (unsigned long long)n, (long long)(r->end - r->p)), 0;
    return (int64_t)n;
}

int tc_enter(TcReader *r) {
    if (r->bad) return -1;
    if (++r->depth > TC_MAX_DEPTH) return tc_fail(r, "structs nested deeper than %d", TC_MAX_DEPTH);
    return 0;
}
void tc_leave(TcReader *r) { r->depth--; }

static void skip_n(TcReader *r, size_t n) {
    if ((size_t)(r->end - r->p) < n) {
        tc_fail(r, "truncated value");
        return;
    }
    r->p += n;
}

void tc_skip(TcReader *r, int type) {
    if (r->bad) return;
    size_t len;
    switch (type) {
        case TC_TRUE:
        case TC_FALSE: return; /* a field's boolean is its type; list elements are skipped below */
        case TC_I8: skip_n(r, 1); return;
        case TC_I16:
        case TC_I32:
        case TC_I64: (void)varint(r); return;
        case TC_DOUBLE: skip_n(r, 8); return;
        case TC_BINARY: (void)tc_binary(r, &len); return;
        case TC_LIST:
        case TC_SET: {
            int elem;
            int64_t n = tc_list(r, &elem);
            if (tc_enter(r)) return;
            for (int64_t i = 0; i < n && !r->bad; i++) {
                if (elem == TC_TRUE || elem == TC_FALSE) skip_n(r, 1); /* a list's booleans are bytes */
                else tc_skip(r, elem);
            }
            tc_leave(r);
            return;
        }
        case TC_MAP: {
            uint64_t n = varint(r);
            if (r->bad || n == 0) return;
            if (r->p >= r->end) {
                tc_fail(r, "truncated map header");
                return;
            }
            uint8_t kv = *r->p++;
            int kt = kv >> 4, vt = kv & 15;
            if (kt > TC_STRUCT || vt > TC_STRUCT || kt == TC_STOP || vt == TC_STOP) {
                tc_fail(r, "map of unknown key/value types %d/%d", kt, vt);
                return;
            }
            if (n > (uint64_t)(r->end - r->p)) {
                tc_fail(r, "a map of %llu entries cannot fit in the bytes left", (unsigned long long)n);
                return;
            }
            if (tc_enter(r)) return;
            for (uint64_t i = 0; i < n && !r->bad; i++) {
                if (kt == TC_TRUE || kt == TC_FALSE) skip_n(r, 1);
                else tc_skip(r, kt);
                if (vt == TC_TRUE || vt == TC_FALSE) skip_n(r, 1);
                else tc_skip(r, vt);
            }
            tc_leave(r);
            return;
        }
        case TC_STRUCT: {
            if (tc_enter(r)) return;
            int16_t last = 0, id;
            int t;
            while (tc_field(r, &last, &id, &t)) tc_skip(r, t);
            tc_leave(r);
            return;
        }
        default: tc_fail(r, "unknown type code %d", type); return;
    }
}

int tc_expect(TcReader *r, int type, int want, const char *field) {
    if (r->bad) return -1;
    int ok = type == want || (want == TC_TRUE && type == TC_FALSE);
    /* integers: accept any integer width for an integer field */
    if (!ok && (want == TC_I32 || want == TC_I64) && (type == TC_I16 || type == TC_I32 || type == TC_I64)) ok = 1;
    if (!ok) return tc_fail(r, "field %s has thrift type %d, expected %d", field, type, want);
    return 0;
}
