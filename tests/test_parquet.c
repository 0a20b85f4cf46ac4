/* test_parquet.c — the parquet reader on files assembled here byte by byte from the format's
 * specification (parquet.thrift, Encodings.md), for what the npm writers of
 * tests/integration/dataset.sh do not produce: several v1 pages in one chunk (dictionary
 * indices, then a PLAIN fallback page, as pyarrow writes when a dictionary grows too large),
 * nulls in v1 and v2 pages, bit-packed and RLE runs of levels and indices, the column as the
 * second leaf; each with SNAPPY pages (libsnappy's compressor) and uncompressed.  Then every
 * truncation and every single-byte change of such a file must be rejected with a message or
 * read within bounds (ASan in make test-asan), and the two join conventions against their
 * definitions. */
#include <snappy-c.h>

#include "quant/dataset.h"
#include "quant/parquet.h"
#include "test.h"

/* ------------------------------------------------ a compact-protocol writer */
typedef struct Buf {
    uint8_t d[8192];
    size_t n;
} Buf;
static void b_byte(Buf *b, uint8_t x) { b->d[b->n++] = x; }
static void b_bytes(Buf *b, const void *p, size_t n) { memcpy(b->d + b->n, p, n), b->n += n; }
static void b_u32(Buf *b, uint32_t v) { for (int i = 0; i < 4; i++) b_byte(b, (uint8_t)(v >> (8 * i))); }
static void b_varint(Buf *b, uint64_t v) {
    while (v >= 0x80) b_byte(b, (uint8_t)(v | 0x80)), v >>= 7;
    b_byte(b, (uint8_t)v);
}
static void b_zz(Buf *b, int64_t v) { b_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63)); }
static int16_t last_[16];
static int depth_;
static void fld(Buf *b, int16_t id, int type) { /* a field header, delta-coded */
    b_byte(b, (uint8_t)((id - last_[depth_]) << 4 | type));
    last_[depth_] = id;
}
static void f_i32(Buf *b, int16_t id, int64_t v) { fld(b, id, 5), b_zz(b, v); }
static void f_i64(Buf *b, int16_t id, int64_t v) { fld(b, id, 6), b_zz(b, v); }
static void f_str(Buf *b, int16_t id, const char *s) { fld(b, id, 8), b_varint(b, strlen(s)), b_bytes(b, s, strlen(s)); }
static void f_struct(Buf *b, int16_t id) { fld(b, id, 12), last_[++depth_] = 0; }
static void s_begin(void) { last_[++depth_] = 0; }       /* a struct as a list element */
static void s_end(Buf *b) { b_byte(b, 0), depth_--; }
static void f_list(Buf *b, int16_t id, int elem, int n) { fld(b, id, 9), b_byte(b, (uint8_t)(n << 4 | elem)); }

/* ------------------------------------------------ the test file */
/* 17 rows of an OPTIONAL 'text' column, the second leaf after an INT32 'id':
 *   page 1 dictionary {"alpha\n", "", "beta\n"}
 *   page 2 v1, RLE_DICTIONARY: levels 1,1,0,1,1,1,0,1 (bit-packed) 1,1 (RLE run); 8 indices
 *          2,2,2,2 (RLE run) 0,1,0,2 (bit-packed, width 2: a group of 8, the last 4 padding)
 *   page 3 v1, PLAIN (the fallback): 4 values, levels one RLE run of 1s
 *   page 4 v2, PLAIN: levels 1,0,1 (bit-packed), num_nulls 1, 2 values */
static const char *dict_[3] = {"alpha\n", "", "beta\n"};
static const char *expect_[17] = {"beta\n", "beta\n", NULL, "beta\n", "beta\n", "alpha\n", NULL, "", "alpha\n", "beta\n",
                                  "x", "yy\n", "", "z\n", "p\n", NULL, "q"};

static void page(Buf *f, int codec, int type, const Buf *levels_v2, const Buf *body, int n, int nulls, int enc) {
    Buf c = {0};
    const Buf *data = body;
    if (codec == 1) {
        size_t cl = sizeof c.d;
        snappy_compress((const char *)body->d, body->n, (char *)c.d, &cl);
        c.n = cl;
        data = &c;
    }
    size_t lv = levels_v2 ? levels_v2->n : 0;
    depth_ = 0;
    last_[0] = 0;
    f_i32(f, 1, type);
    f_i32(f, 2, (int64_t)(lv + body->n));
    f_i32(f, 3, (int64_t)(lv + data->n));
    if (type == 2) {
        f_struct(f, 7), f_i32(f, 1, n), f_i32(f, 2, 0), s_end(f);
    } else if (type == 0) {
        f_struct(f, 5), f_i32(f, 1, n), f_i32(f, 2, enc), f_i32(f, 3, 3), f_i32(f, 4, 3), s_end(f);
    } else {
        f_struct(f, 8), f_i32(f, 1, n), f_i32(f, 2, nulls), f_i32(f, 3, n), f_i32(f, 4, enc);
        f_i32(f, 5, (int64_t)lv), f_i32(f, 6, 0), s_end(f);
    }
    b_byte(f, 0);
    if (levels_v2) b_bytes(f, levels_v2->d, levels_v2->n);
    b_bytes(f, data->d, data->n);
}

static void plain(Buf *b, const char *s) { b_u32(b, (uint32_t)strlen(s)), b_bytes(b, s, strlen(s)); }

static void make_file(Buf *f, int codec) {
    memset(f, 0, sizeof *f);
    b_bytes(f, "PAR1", 4);
    int64_t dict_off = (int64_t)f->n;
    Buf b = {0};
    for (int i = 0; i < 3; i++) plain(&b, dict_[i]);
    page(f, codec, 2, NULL, &b, 3, 0, 0);
    int64_t data_off = (int64_t)f->n;
    /* page 2: levels: bit-packed 1 group (header (1<<1)|1 = 3) 0b10111011, then RLE run of 2 ones */
    Buf l = {0};
    b_byte(&l, 3), b_byte(&l, 0xBB), b_byte(&l, 2 << 1), b_byte(&l, 1);
    memset(&b, 0, sizeof b);
    b_u32(&b, (uint32_t)l.n), b_bytes(&b, l.d, l.n);
    /* indices, width 2: RLE run of four 2s; bit-packed group (0,1,0,2, 4 padding values) = bytes 0x84 0x00 */
    b_byte(&b, 2), b_byte(&b, 4 << 1), b_byte(&b, 2), b_byte(&b, 3), b_byte(&b, 0x84), b_byte(&b, 0x00);
    page(f, codec, 0, NULL, &b, 10, 0, 8);
    /* page 3: PLAIN fallback, levels one RLE run of four 1s */
    memset(&b, 0, sizeof b);
    b_u32(&b, 2), b_byte(&b, 4 << 1), b_byte(&b, 1);
    plain(&b, "x"), plain(&b, "yy\n"), plain(&b, ""), plain(&b, "z\n");
    page(f, codec, 0, NULL, &b, 4, 0, 0);
    /* page 4: v2, levels 1,0,1 bit-packed (raw), values PLAIN */
    Buf lv = {0};
    b_byte(&lv, 3), b_byte(&lv, 0x05);
    memset(&b, 0, sizeof b);
    plain(&b, "p\n"), plain(&b, "q");
    page(f, codec, 3, &lv, &b, 3, 1, 0);
    int64_t chunk_end = (int64_t)f->n;
    /* footer: FileMetaData */
    size_t meta = f->n;
    depth_ = 0;
    last_[0] = 0;
    f_i32(f, 1, 2);
    f_list(f, 2, 12, 3);
    s_begin(), f_str(f, 4, "schema"), f_i32(f, 5, 2), s_end(f);
    s_begin(), f_i32(f, 1, 1), f_i32(f, 3, 0), f_str(f, 4, "id"), s_end(f);
    s_begin(), f_i32(f, 1, 6), f_i32(f, 3, 1), f_str(f, 4, "text"), f_i32(f, 6, 0), s_end(f);
    f_i64(f, 3, 17);
    f_list(f, 4, 12, 1);
    s_begin();
    f_list(f, 1, 12, 2);
    s_begin(), f_i64(f, 2, 4), s_end(f); /* 'id': not read */
    s_begin(), f_i64(f, 2, dict_off), f_struct(f, 3);
    f_i32(f, 1, 6);
    f_list(f, 2, 5, 3), b_zz(f, 0), b_zz(f, 8), b_zz(f, 3);
    f_list(f, 3, 8, 1), b_varint(f, 4), b_bytes(f, "text", 4);
    f_i32(f, 4, codec), f_i64(f, 5, 17), f_i64(f, 6, chunk_end - dict_off), f_i64(f, 7, chunk_end - dict_off);
    f_i64(f, 9, data_off), f_i64(f, 11, dict_off);
    s_end(f); /* ColumnMetaData */
    s_end(f); /* ColumnChunk */
    f_i64(f, 2, 100), f_i64(f, 3, 17);
    s_end(f); /* RowGroup */
    f_str(f, 6, "test_parquet.c");
    b_byte(f, 0);
    b_u32(f, (uint32_t)(f->n - meta));
    b_bytes(f, "PAR1", 4);
}

static void check_rows(const PqStrings *s) {
    CHECK(s->n == 17);
    if (s->n != 17) return;
    for (int i = 0; i < 17; i++) {
        int isnull = s->null && s->null[i];
        CHECK_MSG(isnull == (expect_[i] == NULL), "row %d null %d", i, isnull);
        if (expect_[i]) {
            size_t l = (size_t)(s->off[i + 1] - s->off[i]);
            CHECK_MSG(l == strlen(expect_[i]) && memcmp(s->data + s->off[i], expect_[i], l) == 0, "row %d: '%.*s'", i, (int)l,
                      s->data + s->off[i]);
        }
    }
    CHECK(s->n_null == 3 && s->n_pages_v1 == 2 && s->n_pages_v2 == 1 && s->n_dict_pages == 1);
    CHECK(s->n_pages_dict == 1 && s->n_pages_plain == 2 && strcmp(s->created_by, "test_parquet.c") == 0);
}

TEST(pages_levels_dictionary_fallback) {
    for (int codec = 0; codec < 2; codec++) {
        Buf f;
        make_file(&f, codec);
        PqStrings s;
        QErr err;
        int rc = parquet_read_strings_mem(f.d, f.n, "t.parquet", "text", NULL, &s, &err);
        CHECK_MSG(rc == 0, "codec %d: %s", codec, err.msg);
        if (rc) continue;
        check_rows(&s);
        CHECK(s.codecs == 1 << codec);
        parquet_strings_free(&s);
        /* the other leaf is INT32: refused by name */
        CHECK(parquet_read_strings_mem(f.d, f.n, "t.parquet", "id", NULL, &s, &err) == -1 && strstr(err.msg, "INT32"));
        CHECK(parquet_read_strings_mem(f.d, f.n, "t.parquet", "nope", NULL, &s, &err) == -1 &&
              strstr(err.msg, "columns: 'id', 'text'"));
    }
}

/* Every truncation is an error with a message; every single-byte change is an error or a read
 * whose rows satisfy the contract (under ASan: never outside the file). */
TEST(truncations_and_byte_flips) {
    for (int codec = 0; codec < 2; codec++) {
        Buf f;
        make_file(&f, codec);
        int bad = 0;
        for (size_t n = 0; n < f.n; n++) {
            PqStrings s;
            QErr err;
            err.msg[0] = 0;
            if (parquet_read_strings_mem(f.d, n, "t.parquet", "text", NULL, &s, &err) == 0) bad++, parquet_strings_free(&s);
            else if (!err.msg[0] || strchr(err.msg, '\n')) bad++;
        }
        CHECK_MSG(bad == 0, "%d truncations accepted or without a one-line message", bad);
        int accepted = 0, broken = 0;
        for (size_t i = 0; i < f.n; i++)
            for (int x = 1; x < 256; x *= 2) {
                Buf g = f;
                g.d[i] ^= (uint8_t)x;
                PqStrings s;
                QErr err;
                err.msg[0] = 0;
                PqLimits lim = {1 << 20};
                if (parquet_read_strings_mem(g.d, g.n, "t.parquet", "text", &lim, &s, &err) == 0) {
                    accepted++;
                    for (int64_t r = 0; r < s.n; r++) broken += s.off[r + 1] < s.off[r];
                    broken += s.off[s.n] + 8 * s.n > lim.max_bytes;
                    parquet_strings_free(&s);
                } else {
                    broken += !err.msg[0];
                }
            }
        CHECK_MSG(broken == 0, "%d byte flips broke the contract", broken);
        CHECK(accepted > 0); /* some flips only change values: the reader is not refusing everything */
    }
}

TEST(footer_checks) {
    Buf f;
    make_file(&f, 0);
    PqStrings s;
    QErr err;
    Buf g = f;
    g.d[g.n - 8] = 0xff, g.d[g.n - 7] = 0xff, g.d[g.n - 6] = 0xff, g.d[g.n - 5] = 0x7f;
    CHECK(parquet_read_strings_mem(g.d, g.n, "t.parquet", "text", NULL, &s, &err) == -1 && strstr(err.msg, "footer length"));
    g = f;
    memcpy(g.d + g.n - 4, "PARE", 4);
    CHECK(parquet_read_strings_mem(g.d, g.n, "t.parquet", "text", NULL, &s, &err) == -1 && strstr(err.msg, "encrypted"));
    /* a list claiming more elements than bytes: refused before allocating */
    const uint8_t huge[] = {'P', 'A', 'R', '1', 0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 8, 0, 0, 0, 'P', 'A', 'R', '1'};
    CHECK(parquet_read_strings_mem(huge, sizeof huge, "h.parquet", "text", NULL, &s, &err) == -1 && strstr(err.msg, "cannot fit"));
    /* structs nested past the bound */
    Buf d = {0};
    b_bytes(&d, "PAR1", 4);
    size_t m = d.n;
    for (int i = 0; i < 100; i++) b_byte(&d, 0x1c); /* field 1, struct */
    for (int i = 0; i < 101; i++) b_byte(&d, 0);
    b_u32(&d, (uint32_t)(d.n - m));
    b_bytes(&d, "PAR1", 4);
    CHECK(parquet_read_strings_mem(d.d, d.n, "d.parquet", "text", NULL, &s, &err) == -1 && strstr(err.msg, "nested deeper"));
}

TEST(join_conventions) {
    /* rows as the WikiText loading script makes them from " \n = T = \n \n a b \n" */
    const char *rows[4] = {"", " = T = \n", "", " a b \n"};
    uint8_t data[64];
    int64_t off[5] = {0};
    for (int i = 0; i < 4; i++) {
        memcpy(data + off[i], rows[i], strlen(rows[i]));
        off[i + 1] = off[i] + (int64_t)strlen(rows[i]);
    }
    uint8_t *t;
    size_t n;
    QErr err;
    CHECK(dataset_join_rows(data, off, NULL, 4, DATASET_JOIN_RAW, "x", &t, &n, &err) == 0);
    CHECK(n == strlen(" \n = T = \n \n a b \n") && memcmp(t, " \n = T = \n \n a b \n", n) == 0);
    free(t);
    CHECK(dataset_join_rows(data, off, NULL, 4, DATASET_JOIN_GUIDE, "x", &t, &n, &err) == 0);
    CHECK(n == strlen("\n\n = T = \n\n\n\n\n a b \n") && memcmp(t, "\n\n = T = \n\n\n\n\n a b \n", n) == 0);
    free(t);
    uint8_t nul[4] = {0, 0, 1, 0};
    CHECK(dataset_join_rows(data, off, nul, 4, DATASET_JOIN_GUIDE, "x", &t, &n, &err) == -1 && strstr(err.msg, "row 2"));
    off[4] = off[3] + 3; /* " a " without its newline */
    CHECK(dataset_join_rows(data, off, NULL, 4, DATASET_JOIN_RAW, "x", &t, &n, &err) == -1 && strstr(err.msg, "guide"));
}

int main(void) {
    RUN(pages_levels_dictionary_fallback);
    RUN(truncations_and_byte_flips);
    RUN(footer_checks);
    RUN(join_conventions);
    return test_summary("test_parquet");
}
