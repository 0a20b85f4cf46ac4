/* parquet.h — reads one string column of an Apache Parquet file: the subset that Hugging Face
 * datasets' text files use (docs/formats.md, "Parquet"):
 *   - the footer (Thrift compact protocol), row groups in order, one column chunk per group;
 *   - the column: a top-level BYTE_ARRAY leaf, REQUIRED or OPTIONAL (definition levels, RLE /
 *     bit-packed hybrid, max level 1); nested or repeated columns are refused;
 *   - pages: dictionary pages (PLAIN values), data pages v1 and v2 with PLAIN or dictionary
 *     (PLAIN_DICTIONARY / RLE_DICTIONARY) values; index pages skipped;
 *   - compression: UNCOMPRESSED and SNAPPY (libsnappy); any other codec or encoding is refused
 *     by name.
 * The file is hostile: every offset and size is checked (overflow-checked, quant/checked.h)
 * against the file's length and the column chunk's extent before use, every enum is validated,
 * and what the file makes quant allocate is bounded by a budget (PqLimits).  Errors are one
 * line "<file>: parquet <structure> ...: <what was found, what was expected>". */
#ifndef QUANT_PARQUET_H
#define QUANT_PARQUET_H

#include <stddef.h>
#include <stdint.h>

#include "quant/core.h"

typedef struct PqLimits {
    /* bytes of decoded values + 8 per row that a file may make quant hold; 0: the default,
     * 64 x the file's size and at least 64 MiB (a dictionary page repeated by 1-bit RLE runs
     * is how a small file asks for a lot) */
    int64_t max_bytes;
} PqLimits;

/* The rows of one column, in file order.  Row i is data[off[i] .. off[i+1]). */
typedef struct PqStrings {
    int64_t n;           /* rows */
    uint8_t *data;       /* the values back to back (NUL-terminated one past the end) */
    int64_t *off;        /* [n + 1] */
    uint8_t *null;       /* [n] 1 where the row is null (an OPTIONAL column); NULL if none is */
    int64_t n_null;
    /* what the file was, for the run's record */
    int n_row_groups, n_pages_v1, n_pages_v2, n_dict_pages;
    int n_pages_plain, n_pages_dict;   /* data pages by value encoding: PLAIN, dictionary indices */
    int codecs;          /* bit (1 << codec) for every codec seen: 0 UNCOMPRESSED, 1 SNAPPY */
    char created_by[128];
} PqStrings;

/* Reads column `column` of the file at path.  lim may be NULL (defaults). */
int  parquet_read_strings(const char *path, const char *column, const PqLimits *lim, PqStrings *out, QErr *err);
/* The same on bytes in memory; `name` stands for the file in messages. */
int  parquet_read_strings_mem(const uint8_t *buf, size_t len, const char *name, const char *column,
                              const PqLimits *lim, PqStrings *out, QErr *err);
void parquet_strings_free(PqStrings *s);

#endif
