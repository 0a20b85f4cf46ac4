/* tokenizer_pretok.c — the two pre-tokenizer regexes real byte-level BPE tokenizers use, as
 * hand-written matchers over code points (no regex engine): each returns the end of the match
 * that starts at cp[i] (i < n), following the regex's alternation order, greedy quantifiers and
 * backtracking.  \s is uni_is_space, \p{L} / \p{N} the Unicode classes (unicode.h). */
#include "tokenizer_bpe.h"
#include "unicode.h"

#include <string.h>

/* The patterns as tokenizer.json spells them (Split pre-tokenizer, {"Regex": ...}). */
const char *const bpe_regex_gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char *const bpe_regex_llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

enum { L_ = 1, N_ = 2, S_ = 3, O_ = 4 };
static int cls(uint32_t c) { return uni_is_letter(c) ? L_ : uni_is_number(c) ? N_ : uni_is_space(c) ? S_ : O_; }
static uint32_t lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's 't 're 've 'm 'll 'd (case-folded when fold): the end, or 0 */
static size_t contraction(const uint32_t *cp, size_t n, size_t i, int fold) {
    if (cp[i] != '\'' || i + 1 >= n) return 0;
    uint32_t a = fold ? lower(cp[i + 1]) : cp[i + 1], b = i + 2 < n ? (fold ? lower(cp[i + 2]) : cp[i + 2]) : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    return 0;
}

/* \s+(?!\S)|\s+ at a whitespace code point */
static size_t spaces(const uint32_t *cp, size_t n, size_t i) {
    size_t k = i;
    while (k < n && uni_is_space(cp[k])) k++;
    if (k == n || k - i == 1) return k;
    return k - 1; /* leave the last space to the word that follows */
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
size_t bpe_next_gpt2(const uint32_t *cp, size_t n, size_t i) {
    size_t e = contraction(cp, n, i, 0);
    if (e) return e;
    static const int want[3] = {L_, N_, O_};
    for (int w = 0; w < 3; w++) {
        size_t j = i;
        if (cp[j] == ' ' && j + 1 < n && cls(cp[j + 1]) == want[w]) j++;
        if (cls(cp[j]) != want[w]) continue;
        while (j < n && cls(cp[j]) == want[w]) j++;
        return j;
    }
    return spaces(cp, n, i);
}

/* Llama 3's: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *            | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
size_t bpe_next_llama3(const uint32_t *cp, size_t n, size_t i) {
    size_t e = contraction(cp, n, i, 1);
    if (e) return e;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    size_t j = i;
    if (cp[j] != '\r' && cp[j] != '\n' && cls(cp[j]) != L_ && cls(cp[j]) != N_ && j + 1 < n && cls(cp[j + 1]) == L_) j++;
    if (cls(cp[j]) == L_) {
        while (j < n && cls(cp[j]) == L_) j++;
        return j;
    }
    /* \p{N}{1,3} */
    if (cls(cp[i]) == N_) {
        j = i;
        while (j < n && j - i < 3 && cls(cp[j]) == N_) j++;
        return j;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    j = i;
    if (cp[j] == ' ' && j + 1 < n && cls(cp[j + 1]) == O_) j++;
    if (cls(cp[j]) == O_) {
        while (j < n && cls(cp[j]) == O_) j++;
        while (j < n && (cp[j] == '\r' || cp[j] == '\n')) j++;
        return j;
    }
    /* \s*[\r\n]+ : up to the last line break of the whitespace run */
    size_t k = i, last = n;
    while (k < n && uni_is_space(cp[k])) {
        if (cp[k] == '\r' || cp[k] == '\n') last = k;
        k++;
    }
    if (last != n) return last + 1;
    return spaces(cp, n, i);
}
