/* test_core.c — core services: progress lines (durations, throttling off a terminal, ETA),
 * QWriter's direct writes, and the GGUF-compatible block layouts of qblock.h against their
 * definition. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant/core.h"
#include "quant/qblock.h"
#include "test.h"

TEST(progress_durations) {
    char b[32];
    qprogress_fmt_seconds(12.34, b, sizeof b);
    CHECK(strcmp(b, "12.3s") == 0);
    qprogress_fmt_seconds(185, b, sizeof b);
    CHECK(strcmp(b, "3m05s") == 0);
    qprogress_fmt_seconds(3720, b, sizeof b);
    CHECK(strcmp(b, "1h02m") == 0);
    qprogress_fmt_seconds(-1, b, sizeof b);
    CHECK(strcmp(b, "0.0s") == 0);
}

/* Off a terminal, updates print a plain line only every QPROGRESS_LOG_SECONDS, and the ETA
 * extrapolates the elapsed time: half done after 20 s -> ETA 20 s. */
TEST(progress_lines_off_terminal) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(f), 2);
    QProgress p;
    qprogress_init(&p);
    p.tty = 0;
    for (int i = 0; i < 100; i++) qprogress_update(&p, "step %d", i);  /* within 10 s: silent */
    p.t0 -= 20;
    p.last_log -= 20;
    qprogress_frac(&p, 0.5);
    qprogress_update(&p, "block %d/%d", 3, 6);
    qprogress_update(&p, "block %d/%d", 4, 6);  /* right after a line: silent */
    qprogress_done(&p);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[256] = {0};
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    CHECK_MSG(n > 0 && strncmp(buf, "block 3/6  50% [20.0s, ETA 20.0s]\n", n) == 0, "got '%s'", buf);
}

/* qwriter_open_direct writes exactly the bytes handed to it, in pieces of any size, across
 * several staging buffers (4 MiB each) and ending mid-block; abort leaves nothing.  The
 * directory is on the build's filesystem (direct I/O where it allows it; buffered otherwise). */
TEST(qwriter_direct_same_bytes) {
    char dir[64] = "build/qw-XXXXXX";
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "/tmp/qw-XXXXXX");
        CHECK(mkdtemp(dir) != NULL);
    }
    const size_t sizes[] = {0, 1, 4095, 4096, 4097, (9u << 20) + 123};
    QRng r;
    qrng_seed(&r, 11);
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        const size_t n = sizes[t];
        uint8_t *want = xmalloc(n + 1);
        for (size_t i = 0; i < n; i++) want[i] = (uint8_t)qrng_below(&r, 256);
        char path[128];
        snprintf(path, sizeof path, "%s/f%zu.bin", dir, t);
        QWriter w;
        QErr e;
        CHECK(qwriter_open_direct(&w, path, &e) == 0);
        for (size_t i = 0; i < n;) { /* pieces of 1 byte to 3 MiB */
            size_t k = 1 + qrng_below(&r, qrng_below(&r, 2) ? 3u << 20 : 5000);
            k = k < n - i ? k : n - i;
            CHECK(qwriter_write(&w, want + i, k, &e) == 0);
            i += k;
        }
        CHECK(qwriter_commit(&w, &e) == 0);
        uint8_t *got;
        size_t len;
        CHECK(qfile_read_all(path, &got, &len, &e) == 0);
        CHECK_MSG(len == n && memcmp(got, want, n) == 0, "%zu bytes written, %zu read back (or different)", n, len);
        free(got);
        unlink(path);
        /* aborted: neither the file nor its temporary */
        CHECK(qwriter_open_direct(&w, path, &e) == 0);
        CHECK(qwriter_write(&w, want, n, &e) == 0);
        char tmp[160];
        snprintf(tmp, sizeof tmp, "%s", w.tmp);
        qwriter_abort(&w);
        CHECK(!qpath_exists(path) && !qpath_exists(tmp));
        free(want);
    }
    rmdir(dir);
}

/* Q4_0: element j in the low nibble of qs[j], j + 16 in the high nibble, stored as q + 8;
 * a short block is padded with code 0; dequantization is d * q. */
TEST(qblock_layouts) {
    int8_t c[QK], back[QK];
    for (int j = 0; j < QK; j++) c[j] = (int8_t)(j % 16 - 8);
    QBlockQ4_0 b4;
    uint16_t d = qf32_to_f16(0.25f);
    qblock_q4_0_pack(c, 20, d, &b4);
    /* c[0] = -8 -> u 0 (low nibble); c[16] = -8 -> u 0 (high); c[5] = -3 -> 5, c[21] padded -> 8 */
    CHECK(b4.qs[0] == 0x00 && b4.qs[5] == (uint8_t)(5 | (8 << 4)));
    qblock_q4_0_unpack(&b4, back);
    int ok = 1;
    for (int j = 0; j < QK; j++) ok &= back[j] == (j < 20 ? c[j] : 0);
    CHECK(ok);
    float w[40];
    QBlockQ4_0 two[2] = {b4, b4};
    qblock_q4_0_dequant_row(two, 40, w);
    CHECK(w[1] == 0.25f * c[1] && w[19] == 0.25f * c[19] && w[25] == 0.0f && w[33] == 0.25f * c[1]);
    QBlockQ8_0 b8;
    int8_t c8[QK];
    for (int j = 0; j < QK; j++) c8[j] = (int8_t)(j * 8 - 127);
    qblock_q8_0_pack(c8, QK, d, &b8);
    qblock_q8_0_unpack(&b8, back);
    CHECK(memcmp(back, c8, QK) == 0);
    qblock_q8_0_dequant_row(&b8, 5, w);
    CHECK(w[0] == 0.25f * -127 && w[4] == 0.25f * (32 - 127));
}

/* the bench figures' median: middle element, mean of the middle two, input order irrelevant */
TEST(median_closed_form) {
    double odd[5] = {9, -1, 4, 7, 0}, even[4] = {3, 10, -2, 5}, one[1] = {2.5};
    CHECK(qmedian(odd, 5) == 4);
    CHECK(qmedian(even, 4) == 4); /* (3 + 5) / 2 */
    CHECK(qmedian(one, 1) == 2.5);
}

int main(void) {
    RUN(progress_durations);
    RUN(progress_lines_off_terminal);
    RUN(qwriter_direct_same_bytes);
    RUN(qblock_layouts);
    RUN(median_closed_form);
    return test_summary("test_core");
}
