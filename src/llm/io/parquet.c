/* parquet.c — one string column of a Parquet file (parquet.h; the subset: docs/formats.md).
 *
 * Layout of a file: "PAR1", the column chunks (each: an optional dictionary page, then data
 * pages, every page a Thrift PageHeader followed by its bytes), the footer (a Thrift
 * FileMetaData: schema, row groups, column chunk metadata), the footer's length (u32 LE),
 * "PAR1".  The reader maps the file, checks both magics and the footer's extent, parses the
 * schema to find the column (and whether it is OPTIONAL), then walks each row group's chunk
 * page by page inside the extent its metadata gives. */
#include "quant/parquet.h"

#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "quant/checked.h"
#include "thrift_compact.h"

/* enums of the format (parquet.thrift) */
enum { PQ_BYTE_ARRAY = 6, PQ_N_TYPES = 8 };
enum { PQ_REQUIRED = 0, PQ_OPTIONAL = 1, PQ_REPEATED = 2 };
enum { PG_DATA = 0, PG_INDEX = 1, PG_DICT = 2, PG_DATA_V2 = 3 };
enum { EN_PLAIN = 0, EN_PLAIN_DICT = 2, EN_RLE = 3, EN_BIT_PACKED = 4, EN_RLE_DICT = 8, EN_MAX = 9 };
enum { CODEC_UNCOMPRESSED = 0, CODEC_SNAPPY = 1, CODEC_MAX = 7 };

static const char *enc_name(int e) {
    static const char *n[] = {"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED", "DELTA_BINARY_PACKED",
                              "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY", "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
    return e >= 0 && e <= EN_MAX ? n[e] : "unknown";
}
static const char *codec_name(int c) {
    static const char *n[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
    return c >= 0 && c <= CODEC_MAX ? n[c] : "unknown";
}
static const char *type_name(int t) {
    static const char *n[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    return t >= 0 && t < PQ_N_TYPES ? n[t] : "unknown";
}

static uint32_t rd_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* ------------------------------------------------------------------ footer */
typedef struct SchemaEl {
    int type, rep, n_children;   /* -1: absent */
    const uint8_t *name;
    size_t name_len;
} SchemaEl;

typedef struct Chunk {
    int type, codec, path_ok, has_meta, has_file_path;
    int64_t num_values, total_compressed, data_off, dict_off;  /* dict_off -1: absent */
} Chunk;

typedef struct Reader {
    const uint8_t *f;            /* the file */
    int64_t flen, meta_start;    /* column data lies in [4, meta_start) */
    const char *path, *column;
    QErr *err;
    int64_t budget, used;        /* bytes of output + 8 per row allowed / held */
    /* the column */
    int leaf, max_def;
    /* the current chunk's dictionary */
    uint8_t *dict_buf;           /* owned, or NULL when the page was stored uncompressed */
    const uint8_t *dict_data;
    int64_t *dict_off, dict_n;
    /* output */
    PqStrings *out;
    int64_t cap_data, row;
} Reader;

static int parse_schema_el(TcReader *t, SchemaEl *e) {
    e->type = e->rep = e->n_children = -1;
    e->name = NULL;
    e->name_len = 0;
    if (tc_enter(t)) return -1;
    int16_t last = 0, id;
    int ty;
    while (tc_field(t, &last, &id, &ty)) {
        if (id == 1 && !tc_expect(t, ty, TC_I32, "SchemaElement.type")) e->type = tc_i32(t);
        else if (id == 3 && !tc_expect(t, ty, TC_I32, "SchemaElement.repetition_type")) e->rep = tc_i32(t);
        else if (id == 4 && !tc_expect(t, ty, TC_BINARY, "SchemaElement.name")) e->name = tc_binary(t, &e->name_len);
        else if (id == 5 && !tc_expect(t, ty, TC_I32, "SchemaElement.num_children")) e->n_children = tc_i32(t);
        else tc_skip(t, ty);
    }
    tc_leave(t);
    if (t->bad) return -1;
    if (!e->name) return tc_fail(t, "a schema element without its required name");
    if (e->type != -1 && (e->type < 0 || e->type >= PQ_N_TYPES)) return tc_fail(t, "schema element type %d is not a parquet type (0..7)", e->type);
    if (e->rep != -1 && (e->rep < 0 || e->rep > PQ_REPEATED)) return tc_fail(t, "repetition_type %d (expected 0 REQUIRED, 1 OPTIONAL, 2 REPEATED)", e->rep);
    if (e->n_children < -1) return tc_fail(t, "num_children %d is negative", e->n_children);
    return 0;
}

static int parse_col_meta(TcReader *t, Reader *R, Chunk *c) {
    if (tc_enter(t)) return -1;
    int16_t last = 0, id;
    int ty;
    int have[10] = {0};
    while (tc_field(t, &last, &id, &ty)) {
        if (id == 1 && !tc_expect(t, ty, TC_I32, "ColumnMetaData.type")) c->type = tc_i32(t), have[1] = 1;
        else if (id == 3 && !tc_expect(t, ty, TC_LIST, "ColumnMetaData.path_in_schema")) {
            int el;
            int64_t n = tc_list(t, &el);
            if (!t->bad && el != TC_BINARY) tc_fail(t, "path_in_schema is a list of type %d, expected strings", el);
            size_t cl = strlen(R->column);
            c->path_ok = n == 1;
            for (int64_t i = 0; i < n && !t->bad; i++) {
                size_t l;
                const uint8_t *s = tc_binary(t, &l);
                if (s && (l != cl || memcmp(s, R->column, cl) != 0)) c->path_ok = 0;
            }
            have[3] = 1;
        } else if (id == 4 && !tc_expect(t, ty, TC_I32, "ColumnMetaData.codec")) c->codec = tc_i32(t), have[4] = 1;
        else if (id == 5 && !tc_expect(t, ty, TC_I64, "ColumnMetaData.num_values")) c->num_values = tc_i64(t), have[5] = 1;
        else if (id == 7 && !tc_expect(t, ty, TC_I64, "ColumnMetaData.total_compressed_size")) c->total_compressed = tc_i64(t), have[7] = 1;
        else if (id == 9 && !tc_expect(t, ty, TC_I64, "ColumnMetaData.data_page_offset")) c->data_off = tc_i64(t), have[9] = 1;
        else if (id == 11 && !tc_expect(t, ty, TC_I64, "ColumnMetaData.dictionary_page_offset")) c->dict_off = tc_i64(t);
        else tc_skip(t, ty);
    }
    tc_leave(t);
    if (t->bad) return -1;
    static const int req[] = {1, 3, 4, 5, 7, 9};
    static const char *nm[] = {"type", "path_in_schema", "codec", "num_values", "total_compressed_size", "data_page_offset"};
    for (int i = 0; i < 6; i++)
        if (!have[req[i]]) return tc_fail(t, "ColumnMetaData without its required %s", nm[i]);
    c->has_meta = 1;
    return 0;
}

static int parse_chunk(TcReader *t, Reader *R, Chunk *c) {
    if (tc_enter(t)) return -1;
    int16_t last = 0, id;
    int ty;
    while (tc_field(t, &last, &id, &ty)) {
        if (id == 1 && !tc_expect(t, ty, TC_BINARY, "ColumnChunk.file_path")) {
            size_t l;
            tc_binary(t, &l);
            c->has_file_path = 1;
        } else if (id == 3 && !tc_expect(t, ty, TC_STRUCT, "ColumnChunk.meta_data")) {
            parse_col_meta(t, R, c);
        } else {
            tc_skip(t, ty);
        }
    }
    tc_leave(t);
    return t->bad ? -1 : 0;
}

/* One RowGroup: the chunk of the column (index R->leaf) and the row count. */
static int parse_row_group(TcReader *t, Reader *R, Chunk *c, int64_t *rows) {
    if (tc_enter(t)) return -1;
    int16_t last = 0, id;
    int ty, have_cols = 0, have_rows = 0;
    memset(c, 0, sizeof *c);
    c->dict_off = -1;
    while (tc_field(t, &last, &id, &ty)) {
        if (id == 1 && !tc_expect(t, ty, TC_LIST, "RowGroup.columns")) {
            int el;
            int64_t n = tc_list(t, &el);
            if (!t->bad && el != TC_STRUCT) tc_fail(t, "RowGroup.columns is a list of type %d, expected structs", el);
            if (!t->bad && n <= R->leaf) tc_fail(t, "a row group with %lld column chunks, the schema has column '%s' as leaf %d", (long long)n, R->column, R->leaf);
            for (int64_t i = 0; i < n && !t->bad; i++) {
                if (i == R->leaf) parse_chunk(t, R, c);
                else tc_skip(t, TC_STRUCT);
            }
            have_cols = 1;
        } else if (id == 3 && !tc_expect(t, ty, TC_I64, "RowGroup.num_rows")) {
            *rows = tc_i64(t);
            have_rows = 1;
        } else {
            tc_skip(t, ty);
        }
    }
    tc_leave(t);
    if (t->bad) return -1;
    if (!have_cols || !have_rows) return tc_fail(t, "a RowGroup without its required %s", have_cols ? "num_rows" : "columns");
    return 0;
}

/* Finds the column among the schema's leaves: R->leaf, R->max_def. */
static int find_column(Reader *R, const SchemaEl *s, int64_t n) {
    if (n < 2) return qerr_set(R->err, "%s: parquet schema: %lld elements, expected a root and at least one column", R->path, (long long)n);
    enum { MAX_DEPTH = 64 };
    int64_t left[MAX_DEPTH]; /* children still to come at each open group */
    int depth = 0, leaves = 0, found = -1, found_rep = 0, found_type = 0;
    if (s[0].n_children < 1) return qerr_set(R->err, "%s: parquet schema: the root has no children", R->path);
    left[depth++] = s[0].n_children;
    char names[256] = "";
    for (int64_t i = 1; i < n; i++) {
        if (depth == 0) return qerr_set(R->err, "%s: parquet schema: element %lld lies outside the root's %d children", R->path, (long long)i, s[0].n_children);
        const SchemaEl *e = &s[i];
        left[depth - 1]--;
        if (e->n_children > 0) {
            if (depth >= MAX_DEPTH) return qerr_set(R->err, "%s: parquet schema nested deeper than %d", R->path, MAX_DEPTH);
            left[depth++] = e->n_children;
            continue;
        }
        if (e->type < 0) return qerr_set(R->err, "%s: parquet schema: element %lld ('%.*s') has neither a type nor children", R->path, (long long)i, (int)(e->name_len > 64 ? 64 : e->name_len), (const char *)e->name);
        if (depth == 1) {
            if (strlen(names) < 200) snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%.*s'", names[0] ? ", " : "", (int)(e->name_len > 40 ? 40 : e->name_len), (const char *)e->name);
            if (e->name_len == strlen(R->column) && memcmp(e->name, R->column, e->name_len) == 0 && found < 0) {
                found = leaves;
                found_rep = e->rep;
                found_type = e->type;
            }
        }
        leaves++;
        while (depth > 0 && left[depth - 1] == 0) depth--;
    }
    if (depth != 0) return qerr_set(R->err, "%s: parquet schema: num_children promise more elements than the schema's %lld", R->path, (long long)n);
    if (found < 0) return qerr_set(R->err, "%s: no top-level column '%s' (columns: %s)", R->path, R->column, names);
    if (found_type != PQ_BYTE_ARRAY)
        return qerr_set(R->err, "%s: column '%s' is %s, expected BYTE_ARRAY (strings)", R->path, R->column, type_name(found_type));
    if (found_rep == PQ_REPEATED) return qerr_set(R->err, "%s: column '%s' is REPEATED (lists are not read)", R->path, R->column);
    R->leaf = found;
    R->max_def = found_rep == PQ_OPTIONAL ? 1 : 0; /* an absent repetition_type counts as REQUIRED */
    return 0;
}

/* ------------------------------------------------------------------ pages */
static int budget_add(Reader *R, int64_t n, const char *what) {
    int64_t u;
    if (q_add_i64(R->used, n, &u) || u > R->budget)
        return qerr_set(R->err, "%s: column '%s': %s would make the decoded column exceed %lld bytes (the budget for a %lld-byte file): refused", R->path, R->column, what, (long long)R->budget, (long long)R->flen);
    R->used = u;
    return 0;
}

/* Page bytes -> *dst (ulen bytes).  Uncompressed pages are used in place (*owned NULL). */
static int decompress(Reader *R, int codec, const uint8_t *src, int64_t slen, int64_t ulen, const char *where,
                      const uint8_t **dst, uint8_t **owned) {
    *owned = NULL;
    if (codec == CODEC_UNCOMPRESSED) {
        if (slen != ulen)
            return qerr_set(R->err, "%s: %s: uncompressed page of %lld bytes declares uncompressed_page_size %lld", R->path, where, (long long)slen, (long long)ulen);
        *dst = src;
        return 0;
    }
    size_t claimed;
    if (snappy_uncompressed_length((const char *)src, (size_t)slen, &claimed) != SNAPPY_OK)
        return qerr_set(R->err, "%s: %s: snappy data without a valid length preamble", R->path, where);
    if ((int64_t)claimed != ulen)
        return qerr_set(R->err, "%s: %s: snappy data decompresses to %zu bytes, the page header says %lld", R->path, where, claimed, (long long)ulen);
    if (ulen > R->budget) return qerr_set(R->err, "%s: %s: a page of %lld bytes exceeds the budget of %lld", R->path, where, (long long)ulen, (long long)R->budget);
    /* validated before allocating: the stream must really produce the claimed bytes */
    if (snappy_validate_compressed_buffer((const char *)src, (size_t)slen) != SNAPPY_OK)
        return qerr_set(R->err, "%s: %s: corrupt snappy data", R->path, where);
    uint8_t *b = xmalloc((size_t)ulen + 1);
    size_t got = (size_t)ulen;
    if (snappy_uncompress((const char *)src, (size_t)slen, (char *)b, &got) != SNAPPY_OK || got != (size_t)ulen) {
        free(b);
        return qerr_set(R->err, "%s: %s: corrupt snappy data", R->path, where);
    }
    *dst = b;
    *owned = b;
    return 0;
}

/* The RLE / bit-packed hybrid: `count` values of `width` bits from p[0..n) into out. */
static int hybrid(Reader *R, const uint8_t *p, int64_t n, int width, int64_t count, uint32_t *out, const char *where) {
    int64_t pos = 0, got = 0;
    const int vbytes = (width + 7) / 8;
    while (got < count) {
        uint64_t h = 0;
        int shift = 0;
        for (;;) {
            if (pos >= n) return qerr_set(R->err, "%s: %s: the run-length data ends after %lld of %lld values", R->path, where, (long long)got, (long long)count);
            uint8_t b = p[pos++];
            h |= (uint64_t)(b & 0x7f) << shift;
            if (!(b & 0x80)) break;
            if ((shift += 7) > 28) return qerr_set(R->err, "%s: %s: a run header longer than 5 bytes", R->path, where);
        }
        if (h > UINT32_MAX) return qerr_set(R->err, "%s: %s: a run header past 32 bits", R->path, where);
        if (h & 1) { /* bit-packed: (h >> 1) groups of 8 values, LSB first */
            int64_t groups = (int64_t)(h >> 1), bytes = groups * width, vals = groups * 8;
            if (bytes > n - pos) return qerr_set(R->err, "%s: %s: a bit-packed run of %lld bytes runs past its %lld", R->path, where, (long long)bytes, (long long)(n - pos));
            int64_t take = vals < count - got ? vals : count - got;
            const uint8_t *q = p + pos;
            for (int64_t i = 0; i < take; i++) {
                uint64_t bit = (uint64_t)i * (uint64_t)width, v = 0;
                for (int k = 0; k < width; k++, bit++) v |= (uint64_t)((q[bit >> 3] >> (bit & 7)) & 1) << k;
                out[got + i] = (uint32_t)v;
            }
            got += take;
            pos += bytes;
        } else { /* run: (h >> 1) copies of one value of `vbytes` bytes LE */
            int64_t run = (int64_t)(h >> 1);
            if (vbytes > n - pos) return qerr_set(R->err, "%s: %s: a run's value runs past the data", R->path, where);
            uint64_t v = 0;
            for (int k = 0; k < vbytes; k++) v |= (uint64_t)p[pos + k] << (8 * k);
            pos += vbytes;
            if (width < 32 && (v >> width)) return qerr_set(R->err, "%s: %s: run value %llu does not fit in %d bits", R->path, where, (unsigned long long)v, width);
            int64_t take = run < count - got ? run : count - got;
            for (int64_t i = 0; i < take; i++) out[got + i] = (uint32_t)v;
            got += take;
        }
    }
    return 0;
}

/* Appends one row's value (every byte counts against the budget). */
static int put_value(Reader *R, const uint8_t *s, int64_t len) {
    PqStrings *o = R->out;
    int64_t have = o->off[R->row], need;
    if (budget_add(R, len, "the values")) return -1;
    if (q_add_i64(have, len, &need) || q_add_i64(need, 1, &need)) return qerr_set(R->err, "%s: column '%s': size overflow", R->path, R->column);
    if (need > R->cap_data) {
        int64_t cap = R->cap_data ? R->cap_data : 4096;
        while (cap < need) cap = cap > INT64_MAX / 2 ? need : cap * 2;
        if (cap > R->budget + 1) cap = need;
        o->data = xrealloc(o->data, (size_t)cap);
        R->cap_data = cap;
    }
    memcpy(o->data + have, s, (size_t)len);
    o->off[R->row + 1] = have + len;
    R->row++;
    return 0;
}

/* PLAIN byte arrays: count values from v[0..n) -> *offs (start of each value's bytes) and lens. */
static int plain_values(Reader *R, const uint8_t *v, int64_t n, int64_t count, const uint8_t **starts, int64_t *lens, const char *where) {
    int64_t pos = 0;
    for (int64_t i = 0; i < count; i++) {
        if (n - pos < 4) return qerr_set(R->err, "%s: %s: value %lld of %lld: its length runs past the page (%lld bytes)", R->path, where, (long long)i, (long long)count, (long long)n);
        int64_t l = rd_u32(v + pos);
        pos += 4;
        if (l > n - pos) return qerr_set(R->err, "%s: %s: value %lld has length %lld, past the page's end (%lld bytes left)", R->path, where, (long long)i, (long long)l, (long long)(n - pos));
        starts[i] = v + pos;
        lens[i] = l;
        pos += l;
    }
    return 0;
}

static int dict_page(Reader *R, const uint8_t *d, int64_t dlen, int64_t num, const char *where) {
    if (num < 0 || num > dlen / 4) /* each entry holds a 4-byte length at least */
        return qerr_set(R->err, "%s: %s: %lld dictionary entries cannot fit in %lld bytes", R->path, where, (long long)num, (long long)dlen);
    const uint8_t **st = xmalloc((size_t)(num + 1) * sizeof *st);
    int64_t *ln = xmalloc((size_t)(num + 1) * sizeof *ln);
    int rc = plain_values(R, d, dlen, num, st, ln, where);
    if (rc == 0) {
        R->dict_off = xmalloc((size_t)(num + 1) * sizeof *R->dict_off);
        for (int64_t i = 0; i < num; i++) R->dict_off[i] = st[i] - d;
        R->dict_off[num] = 0;
        /* dict_off[i] is the start; lengths are recomputed from the 4-byte prefix before it */
        R->dict_data = d;
        R->dict_n = num;
    }
    free(st);
    free(ln);
    return rc;
}

/* The values of one data page: levels (def, n) and the value bytes in its encoding. */
static int page_values(Reader *R, const uint32_t *def, int64_t n, int64_t nonnull, int enc, const uint8_t *v, int64_t vlen, const char *where) {
    PqStrings *o = R->out;
    if (enc == EN_PLAIN && nonnull > vlen / 4) /* before allocating: each value holds a 4-byte length */
        return qerr_set(R->err, "%s: %s: %lld PLAIN values cannot fit in %lld bytes", R->path, where, (long long)nonnull, (long long)vlen);
    const uint8_t **st = xmalloc((size_t)(nonnull + 1) * sizeof *st);
    int64_t *ln = xmalloc((size_t)(nonnull + 1) * sizeof *ln);
    int rc = -1;
    if (enc == EN_PLAIN) {
        if (plain_values(R, v, vlen, nonnull, st, ln, where)) goto out;
    } else if (enc == EN_PLAIN_DICT || enc == EN_RLE_DICT) {
        if (!R->dict_data) {
            qerr_set(R->err, "%s: %s: %s values but the column chunk has no dictionary page", R->path, where, enc_name(enc));
            goto out;
        }
        if (nonnull > 0) {
            if (vlen < 1) {
                qerr_set(R->err, "%s: %s: dictionary indices without their bit width byte", R->path, where);
                goto out;
            }
            int w = v[0];
            if (w > 32) {
                qerr_set(R->err, "%s: %s: dictionary index bit width %d (at most 32)", R->path, where, w);
                goto out;
            }
            uint32_t *idx = xmalloc((size_t)nonnull * sizeof *idx);
            if (hybrid(R, v + 1, vlen - 1, w, nonnull, idx, where)) {
                free(idx);
                goto out;
            }
            for (int64_t i = 0; i < nonnull; i++) {
                if (idx[i] >= (uint64_t)R->dict_n) {
                    qerr_set(R->err, "%s: %s: dictionary index %u of value %lld, the dictionary has %lld entries", R->path, where, idx[i], (long long)i, (long long)R->dict_n);
                    free(idx);
                    goto out;
                }
                int64_t s = R->dict_off[idx[i]];
                st[i] = R->dict_data + s;
                ln[i] = rd_u32(R->dict_data + s - 4);
            }
            free(idx);
        }
    } else {
        qerr_set(R->err, "%s: %s: value encoding %s (%d) is not read (PLAIN, PLAIN_DICTIONARY and RLE_DICTIONARY are)", R->path, where, enc_name(enc), enc);
        goto out;
    }
    for (int64_t i = 0, k = 0; i < n; i++) {
        if (def && def[i] == 0) {
            if (!o->null) o->null = xcalloc((size_t)o->n + 1, 1);
            o->null[R->row] = 1;
            o->n_null++;
            o->off[R->row + 1] = o->off[R->row];
            R->row++;
        } else if (put_value(R, st[k], ln[k])) {
            goto out;
        } else {
            k++;
        }
    }
    rc = 0;
out:
    free(st);
    free(ln);
    return rc;
}

typedef struct PageHdr {
    int type, has_v1, has_v2, has_dict;
    int64_t usize, csize;
    int v1_num, v1_enc, v1_def_enc, v1_rep_enc;
    int v2_num, v2_nulls, v2_rows, v2_enc, v2_def_len, v2_rep_len, v2_compressed;
    int d_num, d_enc;
} PageHdr;

static int parse_sub(TcReader *t, PageHdr *h, int which) {
    if (tc_enter(t)) return -1;
    int16_t last = 0, id;
    int ty, seen = 0;
    while (tc_field(t, &last, &id, &ty)) {
        if (which == 1 && id >= 1 && id <= 4 && !tc_expect(t, ty, TC_I32, "DataPageHeader field")) {
            int v = tc_i32(t);
            seen |= 1 << id;
            if (id == 1) h->v1_num = v;
            else if (id == 2) h->v1_enc = v;
            else if (id == 3) h->v1_def_enc = v;
            else h->v1_rep_enc = v;
        } else if (which == 2 && id >= 1 && id <= 6 && !tc_expect(t, ty, TC_I32, "DataPageHeaderV2 field")) {
            int v = tc_i32(t);
            seen |= 1 << id;
            int *f[] = {NULL, &h->v2_num, &h->v2_nulls, &h->v2_rows, &h->v2_enc, &h->v2_def_len, &h->v2_rep_len};
            *f[id] = v;
        } else if (which == 2 && id == 7 && !tc_expect(t, ty, TC_TRUE, "DataPageHeaderV2.is_compressed")) {
            h->v2_compressed = ty == TC_TRUE;
        } else if (which == 3 && id >= 1 && id <= 2 && !tc_expect(t, ty, TC_I32, "DictionaryPageHeader field")) {
            int v = tc_i32(t);
            seen |= 1 << id;
            if (id == 1) h->d_num = v;
            else h->d_enc = v;
        } else {
            tc_skip(t, ty);
        }
    }
    tc_leave(t);
    if (t->bad) return -1;
    int need = which == 1 ? 0x1e : which == 2 ? 0x7e : 0x6;
    if ((seen & need) != need)
        return tc_fail(t, "%s without its required fields", which == 1 ? "DataPageHeader" : which == 2 ? "DataPageHeaderV2" : "DictionaryPageHeader");
    return 0;
}

static int parse_page_header(TcReader *t, PageHdr *h) {
    memset(h, 0, sizeof *h);
    h->v2_compressed = 1; /* the format's default */
    h->type = -1;
    int16_t last = 0, id;
    int ty, have_us = 0, have_cs = 0;
    while (tc_field(t, &last, &id, &ty)) {
        if (id == 1 && !tc_expect(t, ty, TC_I32, "PageHeader.type")) h->type = tc_i32(t);
        else if (id == 2 && !tc_expect(t, ty, TC_I32, "PageHeader.uncompressed_page_size")) h->usize = tc_i32(t), have_us = 1;
        else if (id == 3 && !tc_expect(t, ty, TC_I32, "PageHeader.compressed_page_size")) h->csize = tc_i32(t), have_cs = 1;
        else if (id == 5 && !tc_expect(t, ty, TC_STRUCT, "PageHeader.data_page_header")) h->has_v1 = parse_sub(t, h, 1) == 0;
        else if (id == 7 && !tc_expect(t, ty, TC_STRUCT, "PageHeader.dictionary_page_header")) h->has_dict = parse_sub(t, h, 3) == 0;
        else if (id == 8 && !tc_expect(t, ty, TC_STRUCT, "PageHeader.data_page_header_v2")) h->has_v2 = parse_sub(t, h, 2) == 0;
        else tc_skip(t, ty);
    }
    if (t->bad) return -1;
    if (h->type < 0 || !have_us || !have_cs) return tc_fail(t, "PageHeader without its required type and sizes");
    if (h->type > PG_DATA_V2) return tc_fail(t, "page type %d (expected 0 DATA_PAGE, 1 INDEX_PAGE, 2 DICTIONARY_PAGE, 3 DATA_PAGE_V2)", h->type);
    if (h->usize < 0 || h->csize < 0) return tc_fail(t, "negative page size (uncompressed %lld, compressed %lld)", (long long)h->usize, (long long)h->csize);
    return 0;
}

static void dict_free(Reader *R) {
    free(R->dict_buf);
    free(R->dict_off);
    R->dict_buf = NULL;
    R->dict_off = NULL;
    R->dict_data = NULL;
    R->dict_n = 0;
}

static int read_chunk(Reader *R, int rg, const Chunk *c, int64_t rg_rows) {
    char where[160];
    snprintf(where, sizeof where, "row group %d, column '%.40s'", rg, R->column);
    if (!c->has_meta) return qerr_set(R->err, "%s: %s: no column metadata", R->path, where);
    if (c->has_file_path) return qerr_set(R->err, "%s: %s: the column chunk lives in another file (file_path), not read", R->path, where);
    if (!c->path_ok) return qerr_set(R->err, "%s: %s: the chunk's path_in_schema is not ['%s']", R->path, where, R->column);
    if (c->type != PQ_BYTE_ARRAY) return qerr_set(R->err, "%s: %s: chunk type %s, expected BYTE_ARRAY", R->path, where, type_name(c->type));
    if (c->codec != CODEC_UNCOMPRESSED && c->codec != CODEC_SNAPPY)
        return qerr_set(R->err, "%s: %s: compression %s (%d) is not supported (UNCOMPRESSED and SNAPPY are)", R->path, where, codec_name(c->codec), c->codec);
    if (c->num_values != rg_rows)
        return qerr_set(R->err, "%s: %s: %lld values for a row group of %lld rows (a flat column has one per row)", R->path, where, (long long)c->num_values, (long long)rg_rows);
    int64_t start = c->data_off, end;
    if (c->dict_off >= 4 && c->dict_off < c->data_off) start = c->dict_off;
    if (start < 4 || c->total_compressed < 0 || q_add_i64(start, c->total_compressed, &end) || end > R->meta_start)
        return qerr_set(R->err, "%s: %s: the chunk's bytes [%lld, +%lld) lie outside the data area [4, %lld)", R->path, where, (long long)start, (long long)c->total_compressed, (long long)R->meta_start);
    R->out->codecs |= 1 << c->codec;
    int64_t done = 0, pos = start;
    int data_pages = 0;
    while (done < c->num_values) {
        if (pos >= end) return qerr_set(R->err, "%s: %s: the chunk ends after %lld of its %lld values", R->path, where, (long long)done, (long long)c->num_values);
        TcReader t;
        QErr e2;
        char pw[200];
        snprintf(pw, sizeof pw, "%s page header", where);
        tc_init(&t, R->f, R->f + pos, R->f + end, R->path, pw, &e2);
        PageHdr h;
        if (parse_page_header(&t, &h)) {
            *R->err = e2;
            return -1;
        }
        int64_t data = t.p - R->f;
        snprintf(pw, sizeof pw, "%s, page at byte %lld", where, (long long)(pos));
        if (h.csize > end - data)
            return qerr_set(R->err, "%s: %s: compressed_page_size %lld runs past the chunk's end (%lld bytes left)", R->path, pw, (long long)h.csize, (long long)(end - data));
        const uint8_t *pg = R->f + data;
        pos = data + h.csize;
        if (h.type == PG_INDEX) continue;
        if (h.type == PG_DICT) {
            if (!h.has_dict) return qerr_set(R->err, "%s: %s: a dictionary page without its DictionaryPageHeader", R->path, pw);
            if (data_pages || R->dict_data) return qerr_set(R->err, "%s: %s: a dictionary page that is not the chunk's first page", R->path, pw);
            if (h.d_enc != EN_PLAIN && h.d_enc != EN_PLAIN_DICT)
                return qerr_set(R->err, "%s: %s: dictionary encoding %s (%d), expected PLAIN or PLAIN_DICTIONARY", R->path, pw, enc_name(h.d_enc), h.d_enc);
            const uint8_t *d;
            if (decompress(R, c->codec, pg, h.csize, h.usize, pw, &d, &R->dict_buf)) return -1;
            if (dict_page(R, d, h.usize, h.d_num, pw)) return -1;
            R->out->n_dict_pages++;
            continue;
        }
        data_pages++;
        int64_t n, nonnull = 0;
        uint32_t *def = NULL;
        const uint8_t *vals;
        int64_t vlen;
        uint8_t *owned = NULL;
        int enc, rc = -1;
        if (h.type == PG_DATA) {
            if (!h.has_v1) return qerr_set(R->err, "%s: %s: a data page without its DataPageHeader", R->path, pw);
            n = h.v1_num;
            enc = h.v1_enc;
            if (n < 0 || n > c->num_values - done)
                return qerr_set(R->err, "%s: %s: %lld values, but only %lld of the chunk's remain", R->path, pw, (long long)n, (long long)(c->num_values - done));
            const uint8_t *u;
            if (decompress(R, c->codec, pg, h.csize, h.usize, pw, &u, &owned)) return -1;
            int64_t at = 0;
            if (R->max_def) {
                if (h.v1_def_enc != EN_RLE)
                    goto bad_levels;
                if (h.usize < 4) {
                    qerr_set(R->err, "%s: %s: definition levels without their 4-byte length", R->path, pw);
                    goto page_out;
                }
                int64_t ll = rd_u32(u);
                if (ll > h.usize - 4) {
                    qerr_set(R->err, "%s: %s: definition levels of %lld bytes run past the page (%lld)", R->path, pw, (long long)ll, (long long)h.usize);
                    goto page_out;
                }
                if (budget_add(R, n * 4, "the definition levels")) goto page_out;
                def = xmalloc((size_t)(n + 1) * sizeof *def);
                if (hybrid(R, u + 4, ll, 1, n, def, pw)) goto page_out;
                at = 4 + ll;
            }
            vals = u + at;
            vlen = h.usize - at;
        } else { /* PG_DATA_V2 */
            if (!h.has_v2) return qerr_set(R->err, "%s: %s: a v2 data page without its DataPageHeaderV2", R->path, pw);
            n = h.v2_num;
            enc = h.v2_enc;
            if (n < 0 || n > c->num_values - done)
                return qerr_set(R->err, "%s: %s: %lld values, but only %lld of the chunk's remain", R->path, pw, (long long)n, (long long)(c->num_values - done));
            if (h.v2_rep_len != 0) return qerr_set(R->err, "%s: %s: repetition levels (%d bytes) in a flat column", R->path, pw, h.v2_rep_len);
            if (h.v2_def_len < 0 || h.v2_def_len > h.csize || h.v2_def_len > h.usize)
                return qerr_set(R->err, "%s: %s: definition_levels_byte_length %d outside the page (%lld bytes)", R->path, pw, h.v2_def_len, (long long)h.csize);
            if (h.v2_nulls < 0 || h.v2_nulls > n) return qerr_set(R->err, "%s: %s: num_nulls %d of %lld values", R->path, pw, h.v2_nulls, (long long)n);
            if (R->max_def) {
                if (budget_add(R, n * 4, "the definition levels")) return -1;
                def = xmalloc((size_t)(n + 1) * sizeof *def);
                if (hybrid(R, pg, h.v2_def_len, 1, n, def, pw)) goto page_out;
            } else if (h.v2_def_len != 0 || h.v2_nulls != 0) {
                return qerr_set(R->err, "%s: %s: definition levels or nulls in a REQUIRED column", R->path, pw);
            }
            int64_t cl = h.csize - h.v2_def_len, ul = h.usize - h.v2_def_len;
            int codec = h.v2_compressed ? c->codec : CODEC_UNCOMPRESSED;
            if (decompress(R, codec, pg + h.v2_def_len, cl, ul, pw, &vals, &owned)) goto page_out;
            vlen = ul;
        }
        for (int64_t i = 0; i < n; i++) nonnull += def ? def[i] != 0 : 1;
        if (h.type == PG_DATA_V2 && nonnull != n - h.v2_nulls) {
            qerr_set(R->err, "%s: %s: num_nulls %d but the definition levels hold %lld nulls", R->path, pw, h.v2_nulls, (long long)(n - nonnull));
            goto page_out;
        }
        rc = page_values(R, def, n, nonnull, enc, vals, vlen, pw);
        if (rc == 0) {
            done += n;
            if (h.type == PG_DATA) R->out->n_pages_v1++;
            else R->out->n_pages_v2++;
            if (enc == EN_PLAIN) R->out->n_pages_plain++;
            else R->out->n_pages_dict++;
        }
        goto page_out;
    bad_levels:
        qerr_set(R->err, "%s: %s: definition level encoding %s (%d), expected RLE", R->path, pw, enc_name(h.v1_def_enc), h.v1_def_enc);
    page_out:
        free(def);
        free(owned);
        if (rc) return -1;
    }
    dict_free(R);
    return 0;
}

/* ------------------------------------------------------------------ the file */
int parquet_read_strings_mem(const uint8_t *buf, size_t len, const char *name, const char *column, const PqLimits *lim,
                             PqStrings *out, QErr *err) {
    memset(out, 0, sizeof *out);
    if (len < 12) return qerr_set(err, "%s: %zu bytes, too short for a parquet file (12 at least: 'PAR1', footer, length, 'PAR1')", name, len);
    if (memcmp(buf, "PAR1", 4) != 0) return qerr_set(err, "%s: not a parquet file (it does not start with 'PAR1')", name);
    if (memcmp(buf + len - 4, "PARE", 4) == 0) return qerr_set(err, "%s: an encrypted parquet footer ('PARE'), not supported", name);
    if (memcmp(buf + len - 4, "PAR1", 4) != 0)
        return qerr_set(err, "%s: not a complete parquet file (it does not end with 'PAR1': truncated?)", name);
    int64_t flen = (int64_t)len, mlen = rd_u32(buf + len - 8);
    if (mlen < 2 || mlen > flen - 12)
        return qerr_set(err, "%s: parquet footer length %lld does not fit in the file (%lld bytes; at most %lld)", name, (long long)mlen, (long long)flen, (long long)(flen - 12));
    Reader R = {0};
    R.f = buf;
    R.flen = flen;
    R.meta_start = flen - 8 - mlen;
    R.path = name;
    R.column = column;
    R.err = err;
    R.out = out;
    R.budget = lim && lim->max_bytes > 0 ? lim->max_bytes : (flen > INT64_MAX / 64 ? INT64_MAX : 64 * flen);
    if (!(lim && lim->max_bytes > 0) && R.budget < (64LL << 20)) R.budget = 64LL << 20;

    /* FileMetaData: schema first; row groups parsed afterwards (they need the column's index) */
    TcReader t;
    tc_init(&t, buf, buf + R.meta_start, buf + flen - 8, name, "footer", err);
    int16_t last = 0, id;
    int ty, el;
    SchemaEl *schema = NULL;
    int64_t n_schema = -1, num_rows = -1;
    const uint8_t *rg_at = NULL;
    while (tc_field(&t, &last, &id, &ty)) {
        if (id == 2 && !tc_expect(&t, ty, TC_LIST, "FileMetaData.schema")) {
            int64_t n = tc_list(&t, &el);
            if (t.bad) break;
            if (el != TC_STRUCT) {
                tc_fail(&t, "the schema is a list of type %d, expected structs", el);
                break;
            }
            if (schema) {
                tc_fail(&t, "a second schema");
                break;
            }
            schema = xmalloc((size_t)(n + 1) * sizeof *schema); /* n <= bytes left */
            n_schema = n;
            for (int64_t i = 0; i < n && !t.bad; i++) parse_schema_el(&t, &schema[i]);
        } else if (id == 3 && !tc_expect(&t, ty, TC_I64, "FileMetaData.num_rows")) {
            num_rows = tc_i64(&t);
        } else if (id == 4 && !tc_expect(&t, ty, TC_LIST, "FileMetaData.row_groups")) {
            rg_at = t.p;
            tc_skip(&t, TC_LIST);
        } else if (id == 6 && !tc_expect(&t, ty, TC_BINARY, "FileMetaData.created_by")) {
            size_t l;
            const uint8_t *s = tc_binary(&t, &l);
            if (s) snprintf(out->created_by, sizeof out->created_by, "%.*s", (int)(l > 127 ? 127 : l), (const char *)s);
            for (char *c = out->created_by; *c; c++)
                if ((unsigned char)*c < 32 || (unsigned char)*c > 126) *c = '?'; /* it is printed */
        } else {
            tc_skip(&t, ty);
        }
    }
    int rc = -1;
    if (t.bad) goto done;
    if (!schema || num_rows < 0 || !rg_at) {
        qerr_set(err, "%s: parquet footer without its required %s", name, !schema ? "schema" : num_rows < 0 ? "num_rows" : "row_groups");
        goto done;
    }
    if (find_column(&R, schema, n_schema)) goto done;
    if (q_mul_i64(num_rows, 8, &(int64_t){0}) || num_rows > R.budget / 8) {
        qerr_set(err, "%s: num_rows %lld exceeds the budget of %lld bytes for this file", name, (long long)num_rows, (long long)R.budget);
        goto done;
    }
    if (budget_add(&R, 8 * num_rows, "the row offsets")) goto done;
    out->n = num_rows;
    out->off = xcalloc((size_t)num_rows + 1, sizeof *out->off);
    /* the row groups, in order */
    tc_init(&t, buf, rg_at, buf + flen - 8, name, "footer row groups", err);
    int64_t n_rg = tc_list(&t, &el);
    if (!t.bad && el != TC_STRUCT) tc_fail(&t, "row_groups is a list of type %d, expected structs", el);
    for (int64_t g = 0; g < n_rg && !t.bad; g++) {
        Chunk c;
        int64_t rows = 0;
        if (parse_row_group(&t, &R, &c, &rows)) break;
        if (rows < 0 || rows > num_rows - R.row) {
            qerr_set(err, "%s: row group %lld has %lld rows, more than the %lld the footer's num_rows leaves", name, (long long)g, (long long)rows, (long long)(num_rows - R.row));
            goto done;
        }
        int64_t before = R.row;
        if (read_chunk(&R, (int)(g > INT32_MAX ? INT32_MAX : g), &c, rows)) goto done;
        if (R.row - before != rows) {
            qerr_set(err, "%s: row group %lld: %lld rows decoded, %lld declared", name, (long long)g, (long long)(R.row - before), (long long)rows);
            goto done;
        }
        out->n_row_groups++;
    }
    if (t.bad) goto done;
    if (R.row != num_rows) {
        qerr_set(err, "%s: the row groups hold %lld rows, the footer's num_rows says %lld", name, (long long)R.row, (long long)num_rows);
        goto done;
    }
    if (!out->data) out->data = xmalloc(1);
    out->data[out->off[out->n]] = 0;
    rc = 0;
done:
    dict_free(&R);
    free(schema);
    if (rc) parquet_strings_free(out);
    return rc;
}

int parquet_read_strings(const char *path, const char *column, const PqLimits *lim, PqStrings *out, QErr *err) {
    memset(out, 0, sizeof *out);
    QMap m;
    if (qmap_open(&m, path, 0, err)) return -1;
    int rc = parquet_read_strings_mem(m.data, m.len, path, column, lim, out, err);
    qmap_close(&m);
    return rc;
}

void parquet_strings_free(PqStrings *s) {
    free(s->data);
    free(s->off);
    free(s->null);
    memset(s, 0, sizeof *s);
}
