/* thrift_compact.h — a checked reader of Thrift's compact protocol, the encoding of Parquet's
 * footer and page headers (parquet.c).  Internal to src/llm/io.
 *
 * The bytes are hostile: every varint is at most 10 bytes, every length and list size is
 * compared with the bytes left before use, i32 values must fit, and nesting is bounded (a
 * struct of a struct of ... cannot exhaust the stack).  The first failure is kept in the
 * reader (`bad`) with a message naming the file and the structure being read; later reads
 * return zeros, so a struct parser can read on and check `bad` once at the end. */
#ifndef QUANT_THRIFT_COMPACT_H
#define QUANT_THRIFT_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "quant/core.h"

/* compact-protocol type codes */
enum {
    TC_STOP = 0, TC_TRUE = 1, TC_FALSE = 2, TC_I8 = 3, TC_I16 = 4, TC_I32 = 5, TC_I64 = 6,
    TC_DOUBLE = 7, TC_BINARY = 8, TC_LIST = 9, TC_SET = 10, TC_MAP = 11, TC_STRUCT = 12
};
enum { TC_MAX_DEPTH = 32 };

typedef struct TcReader {
    const uint8_t *p, *end;   /* the unread bytes */
    const uint8_t *base;      /* the start of the file (for offsets in messages) */
    int depth;                /* structs entered */
    int bad;                  /* set on the first error; err holds the message */
    const char *path;         /* the file, for messages */
    const char *what;         /* the structure being read, e.g. "footer" */
    QErr *err;
} TcReader;

void tc_init(TcReader *r, const uint8_t *base, const uint8_t *p, const uint8_t *end, const char *path, const char *what,
             QErr *err);
/* Records the first error ("<path>: parquet <what> at byte <off>: <msg>"); returns -1. */
int tc_fail(TcReader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The next field of the current struct: 0 at its end (STOP), else 1 with *id and *type
 * (TC_TRUE/TC_FALSE for booleans, whose value is the type).  *last_id carries the previous
 * id for the compact protocol's deltas. */
int tc_field(TcReader *r, int16_t *last_id, int16_t *id, int *type);
int64_t tc_i64(TcReader *r);                /* an i16/i32/i64 value (zigzag varint) */
int32_t tc_i32(TcReader *r);                /* zigzag varint that must fit in int32 */
const uint8_t *tc_binary(TcReader *r, size_t *len);
/* A list header: *elem is the element type; returns the size (0 on error), which is at most
 * the bytes left (every element takes at least one byte). */
int64_t tc_list(TcReader *r, int *elem);
/* Skips a value of the given type (structs and containers recursively, depth-bounded). */
void tc_skip(TcReader *r, int type);
/* Entering and leaving a nested struct (the depth bound). */
int  tc_enter(TcReader *r);
void tc_leave(TcReader *r);
/* A field read with the wrong type is an error naming the field. */
int tc_expect(TcReader *r, int type, int want, const char *field);

#endif
