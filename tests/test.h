/* test.h — the unit-test harness: one binary per tests/test_*.c, each a list of
 * TEST(name) functions with CHECK() assertions; prints a line per failed check and
 * a final "<binary>: N passed, N failed" line that tests/run.sh adds up.
 *
 *   TEST(rounding) { CHECK(x == 3); CHECK_NEAR(a, b, 1e-6); }
 *   int main(void) { RUN(rounding); return test_summary("test_quant"); }
 *
 * A test that needs data from ../shared/data and cannot find it calls SKIP("why"). */
#ifndef QUANT_TEST_H
#define QUANT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed_, test_failed_, test_skipped_, test_cur_failed_, test_cur_skipped_;
static const char *test_cur_name_;

#define TEST(name) static void test_##name(void)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "  FAIL %s (%s:%d): %s\n", test_cur_name_, __FILE__,     \
                    __LINE__, #cond);                                                \
            test_cur_failed_++;                                                      \
        }                                                                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "  FAIL %s (%s:%d): %s: ", test_cur_name_, __FILE__,     \
                    __LINE__, #cond);                                                \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            test_cur_failed_++;                                                      \
        }                                                                            \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                             \
        double a_ = (double)(a), b_ = (double)(b);                                   \
        if (!(fabs(a_ - b_) <= (tol))) {                                             \
            fprintf(stderr, "  FAIL %s (%s:%d): %s = %.9g, %s = %.9g, tol %g\n",     \
                    test_cur_name_, __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol)); \
            test_cur_failed_++;                                                      \
        }                                                                            \
    } while (0)

#define SKIP(...)                                                                    \
    do {                                                                             \
        fprintf(stderr, "  SKIP %s: ", test_cur_name_);                              \
        fprintf(stderr, __VA_ARGS__);                                                \
        fputc('\n', stderr);                                                         \
        test_cur_skipped_ = 1;                                                       \
        return;                                                                      \
    } while (0)

#define RUN(name)                                                                    \
    do {                                                                             \
        test_cur_name_ = #name;                                                      \
        test_cur_failed_ = 0;                                                        \
        test_cur_skipped_ = 0;                                                       \
        test_##name();                                                               \
        if (test_cur_failed_) test_failed_++;                                        \
        else if (test_cur_skipped_) test_skipped_++;                                 \
        else test_passed_++;                                                         \
    } while (0)

static inline int test_summary(const char *binary) {
    printf("%s: %d passed, %d failed, %d skipped\n", binary, test_passed_, test_failed_,
           test_skipped_);
    return test_failed_ ? 1 : 0;
}

/* Directory of the shared data ($QUANT_DATA_DIR or ../shared/data). */
static inline const char *test_data_dir(void) {
    const char *d = getenv("QUANT_DATA_DIR");
    return (d && *d) ? d : "../shared/data";
}

/* A fresh temporary directory for files a test writes (never the source tree). */
static inline const char *test_tmpdir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/quant-test-XXXXXX", (base && *base) ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return dir;
}

#endif
