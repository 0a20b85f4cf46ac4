/* unicode.h — the little Unicode the tokenizers need: UTF-8 decoding and the letter / number /
 * whitespace classes of GPT-2's pre-tokenizer regex (\p{L}, \p{N}, JavaScript's \s). */
#ifndef QUANT_LLM_UNICODE_H
#define QUANT_LLM_UNICODE_H

#include <stddef.h>
#include <stdint.h>

extern const uint32_t uni_letter_ranges[][2];
extern const int uni_letter_nranges;
extern const uint32_t uni_number_ranges[][2];
extern const int uni_number_nranges;

/* Decodes the code point at s[0..n); returns its length in bytes (1 for an invalid byte,
 * whose value is returned as the code point 0xFFFD... but the bytes are kept by callers). */
int uni_decode(const uint8_t *s, size_t n, uint32_t *cp);
int uni_is_letter(uint32_t cp);
int uni_is_number(uint32_t cp);
int uni_is_space(uint32_t cp);   /* JavaScript's \s */

#endif
