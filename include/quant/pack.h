/* pack.h — bit packing of integer codes for 2, 3, 4 and 8 bits.
 * A code q in [qmin, qmax] is stored as the unsigned field u = q - qmin of `bits` bits.
 * Fields are laid out little-endian: element i occupies bits [i*bits, (i+1)*bits) of the
 * byte stream (for 4 bits: element 2j in the low nibble of byte j).  3-bit fields may
 * straddle bytes. */
#ifndef QUANT_PACK_H
#define QUANT_PACK_H

#include <stddef.h>
#include <stdint.h>

size_t qpack_bytes(int bits, int64_t n);                                  /* ceil(n * bits / 8) */
void   qpack(int bits, const int8_t *q, int64_t n, uint8_t *out);          /* out: qpack_bytes() */
void   qunpack(int bits, const uint8_t *in, int64_t n, int8_t *q);

#endif
