/* test_amx.c — the AMX int8 tile kernel (src/kernels/qmat_amx_tile.h).
 *
 * Every machine: the kernel's source, compiled here over an emulator of the tile instructions
 * (amx_emu.h, from the Intel SDM's definitions), against the products written out in plain C:
 * the tile configuration's bytes, the instruction's signed x unsigned arithmetic, and the
 * kernel's outputs bit for bit on ragged shapes.  On a CPU and OS that run the tiles
 * (kern_amx_status says "on"), also the real instructions against the emulated ones, and the
 * whole product through kern_qmat_linear with the tiles against the scalar kernel (the same
 * bits, by construction).  Elsewhere those two say why they were skipped. */
#include <signal.h>
#include <unistd.h>

#include "amx_emu.h"
#include "kernels/qmat_amx_tile.h"
#include "quant/core.h"
#include "quant/kernels.h"
#include "quant/qblock.h"
#include "test.h"

/* The SDM's LDTILECFG table filled in for the kernel's six tiles, byte by byte. */
TEST(config_bytes) {
    uint8_t want[64] = {0};
    want[0] = 1;                                    /* palette 1 */
    const int colsb[6] = {64, 32, 64, 64, 32, 64};  /* C, A, B twice */
    const int rows[6] = {16, 16, 8, 16, 16, 8};
    for (int i = 0; i < 6; i++) {
        want[16 + 2 * i] = (uint8_t)colsb[i];
        want[48 + i] = (uint8_t)rows[i];
    }
    AmxTileCfg c;
    CHECK(sizeof c == 64);
    amx_cfg_fill(&c);
    CHECK(memcmp(&c, want, 64) == 0);
}

/* tdpbsud as the emulator runs it, on values whose product is worked out by hand: the first
 * operand's bytes are signed (-128), the second's unsigned (255). */
TEST(emulator_dpbsud) {
    uint8_t cfg[64] = {0};
    cfg[0] = 1;
    cfg[16] = 4, cfg[48] = 1; /* tmm0: C, 1 x 1 int32 */
    cfg[18] = 8, cfg[49] = 1; /* tmm1: A, 1 row of 8 bytes (k = 8) */
    cfg[20] = 4, cfg[50] = 2; /* tmm2: B, 2 rows (k / 4) of 4 bytes */
    const int8_t a[8] = {-128, 127, -1, 0, 5, 6, 7, 8};
    const uint8_t b[8] = {255, 255, 255, 1, 2, 3, 4, 200};
    int32_t c = 0;
    amx_emu_loadconfig(cfg);
    amx_emu_zero(0);
    amx_emu_loadd(1, a, 8);
    amx_emu_loadd(2, b, 4);
    amx_emu_dpbsud(0, 1, 2);
    amx_emu_stored(0, &c, 4);
    amx_emu_release();
    /* -128*255 + 127*255 - 1*255 + 0*1 + 5*2 + 6*3 + 7*4 + 8*200 = -510 + 1656 */
    CHECK_MSG(c == 1146, "c = %d", (int)c);
}

/* Random Q4_0 / Q8_0 codes for `rows` rows of nb blocks, unpacked as qmat_avx512.c's
 * unpack_tile lays a tile out (u = c + o in [block][k / 4][row (32)][k % 4], rows past `rows`
 * zero with scale 0); the codes kept signed for the plain product. */
typedef struct Tile {
    int rows, nb, o;
    int8_t *c;   /* [rows][nb][32] */
    float *d;    /* [rows][nb] */
    uint8_t *wu; /* [nb][8][32][4] */
    float *wd;   /* [nb][32] */
} Tile;

static void tile_make(Tile *w, int q4, int rows, int nb, QRng *r) {
    w->rows = rows, w->nb = nb, w->o = q4 ? 8 : 128;
    w->c = xmalloc((size_t)rows * nb * QK);
    w->d = xmalloc((size_t)rows * nb * sizeof(float));
    w->wu = xcalloc((size_t)nb * QK * AMX_GC, 1);
    w->wd = xcalloc((size_t)nb * AMX_GC, sizeof(float));
    for (int i = 0; i < rows; i++)
        for (int b = 0; b < nb; b++) {
            w->d[i * nb + b] = 0.002f + 0.01f * qrng_uniform(r);
            w->wd[b * AMX_GC + i] = w->d[i * nb + b];
            for (int k = 0; k < QK; k++) {
                int c = q4 ? (int)(qrng_u32(r) % 16) - 8 : (int)(qrng_u32(r) % 256) - 128;
                w->c[((size_t)i * nb + b) * QK + k] = (int8_t)c;
                w->wu[(size_t)b * QK * AMX_GC + (k / 4) * AMX_GC * 4 + i * 4 + k % 4] = (uint8_t)(c + w->o);
            }
        }
}

static void tile_free(Tile *w) {
    free(w->c);
    free(w->d);
    free(w->wu);
    free(w->wd);
}

/* The products in plain C, with the scalar kernel's operations: over the blocks in order,
 * acc += (d_w d_x) (float) sum_k c q, each operation rounded on its own. */
static float exact(const Tile *w, const KernQAct *x, int t, int r) {
    float acc = 0;
    for (int b = 0; b < w->nb; b++) {
        int32_t s = 0;
        for (int k = 0; k < QK; k++) s += w->c[((size_t)r * w->nb + b) * QK + k] * x->q[((size_t)t * x->nb + b) * QK + k];
        const float dd = w->d[r * w->nb + b] * x->d[(size_t)t * x->nb + b], term = dd * (float)s;
        acc += term;
    }
    return acc;
}

/* The guard that runs the self-test before the tiles are trusted (amx.c): a child that returns
 * 0, returns nonzero, faults, aborts or hangs is told apart, and the parent lives on. */
static int child_ok(void) { return 0; }
static int child_wrong(void) { return 7; }
static int child_segv(void) { /* the default action, as without ASan (whose handler would exit 1) */
    signal(SIGSEGV, SIG_DFL);
    return raise(SIGSEGV);
}
static int child_abort(void) { abort(); }
static int child_hang(void) {
    for (;;) pause();
    return 0;
}

TEST(self_test_guard) {
    CHECK(kern_run_in_child(child_ok, 5) == 0);
    CHECK(kern_run_in_child(child_wrong, 5) == 1);
    CHECK(kern_run_in_child(child_segv, 5) == -SIGSEGV);
    CHECK(kern_run_in_child(child_abort, 5) == -SIGABRT);
    CHECK(kern_run_in_child(child_hang, 1) == -SIGALRM);
}

typedef void (*TokensFn)(const uint8_t *wu, const float *wd, int nbc, const KernQAct *x, int T16, int c0, int32_t o,
                         int first, float *Y, int N, int n, int rows);

/* What qmat_avx512.c's tile_rows does with the tile: chunks of 64 blocks, the first one writing
 * Y, the rest adding to it. */
static void run_chunks(TokensFn fn, const Tile *w, const KernQAct *x, int T16, float *Y, int N, int n) {
    for (int c0 = 0; c0 < w->nb; c0 += 64) {
        int nbc = w->nb - c0 < 64 ? w->nb - c0 : 64;
        fn(w->wu + (size_t)c0 * QK * AMX_GC, w->wd + (size_t)c0 * AMX_GC, nbc, x, T16, c0, w->o, c0 == 0, Y, N, n, w->rows);
    }
}

static void emulated(const uint8_t *wu, const float *wd, int nbc, const KernQAct *x, int T16, int c0, int32_t o, int first,
                     float *Y, int N, int n, int rows) {
    amx_tokens(wu, wd, nbc, x, T16, c0, o, first, Y, N, n, rows);
}

/* One case: tokens [0, T16) of a KernQAct of T16 + extra tokens, written into columns
 * [n, n + rows) of a Y of N columns whose other cells must keep their sentinel. */
static int check_case(TokensFn fn, int q4, int rows, int nb, int T16, int extra, QRng *r, float *out_copy) {
    Tile w;
    tile_make(&w, q4, rows, nb, r);
    const int T = T16 + extra, K = nb * QK, N = rows + 7, n = 3;
    float *X = xmalloc((size_t)T * K * sizeof(float)), *Y = xmalloc((size_t)T * N * sizeof(float));
    for (int i = 0; i < T * K; i++) X[i] = qrng_normal(r);
    KernQAct x;
    kern_qact_init(&x, T, K);
    kern_qact_quantize(&x, X, T, K);
    for (int i = 0; i < T * N; i++) Y[i] = -12345.0f;
    const long before = amx_emu.products;
    run_chunks(fn, &w, &x, T16, Y, N, n);
    int bad = 0;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < N; j++) {
            float y = Y[(size_t)t * N + j];
            int inside = t < T16 && j >= n && j < n + rows;
            float want = inside ? exact(&w, &x, t, j - n) : -12345.0f;
            bad += memcmp(&y, &want, sizeof y) != 0;
        }
    CHECK_MSG(bad == 0, "%s q%d rows %d nb %d T %d (+%d): %d cells differ", fn == emulated ? "emulated" : "real", q4 ? 4 : 8,
              rows, nb, T16, extra, bad);
    if (fn == emulated) CHECK(amx_emu.products - before == (long)nb * (T16 / AMX_T) * (rows > 16 ? 2 : 1)); /* a product per half */
    if (out_copy) memcpy(out_copy, Y, (size_t)T * N * sizeof(float));
    free(X);
    free(Y);
    kern_qact_free(&x);
    tile_free(&w);
    return bad;
}

static const int Rows[] = {32, 17, 1}, Nbs[] = {1, 3, 64, 70, 130}, T16s[] = {16, 48}, Extra[] = {0, 5};

TEST(emulated_vs_exact) {
    QRng r;
    qrng_seed(&r, 31);
    for (int q4 = 0; q4 < 2; q4++)
        for (int ri = 0; ri < 3; ri++)
            for (int bi = 0; bi < 5; bi++)
                for (int ti = 0; ti < 2; ti++) check_case(emulated, q4, Rows[ri], Nbs[bi], T16s[ti], Extra[ti], &r, NULL);
}

/* The instructions themselves, where they run: the same cases, real against emulated. */
TEST(real_vs_emulated) {
    const char *st = kern_amx_status();
    if (strncmp(st, "on", 2) != 0) SKIP("AMX int8 tiles: %s", st);
    QRng r;
    qrng_seed(&r, 32);
    for (int q4 = 0; q4 < 2; q4++)
        for (int ri = 0; ri < 3; ri++)
            for (int bi = 0; bi < 5; bi++) check_case(kern_qmat_amx_tokens, q4, Rows[ri], Nbs[bi], 48, 5, &r, NULL);
}

/* The whole product, where the tiles run: kern_qmat_linear on the AVX-512 kernels with the tiles
 * gives the scalar kernel's bits for the tokens the tiles take (each whole 16), and the AVX-512
 * kernel's without them for the rest (GGUF block order and sb16 rows). */
TEST(linear_with_and_without_tiles) {
    const char *st = kern_amx_status();
    if (strncmp(st, "on", 2) != 0) SKIP("AMX int8 tiles: %s", st);
    QRng r;
    qrng_seed(&r, 33);
    static const int Ts[] = {16, 19, 35, 128}, Ks[] = {64, 512, 2048, 2080}, Ns[] = {1, 33, 100};
    for (int type = 0; type < 2; type++)
        for (int sb = 0; sb < 2; sb++)
            for (int ki = 0; ki < 4; ki++)
                for (int ni = 0; ni < 3; ni++)
                    for (int ti = 0; ti < 4; ti++) {
                        const int K = Ks[ki], N = Ns[ni], T = Ts[ti], nb = (K + QK - 1) / QK;
                        const KernQType qt = type ? KERN_Q4_0 : KERN_Q8_0;
                        const size_t bs = kern_qtype_block_bytes(qt);
                        uint8_t *blocks = xmalloc((size_t)N * nb * bs);
                        for (size_t i = 0; i < (size_t)N * nb; i++) {
                            uint8_t *blk = blocks + i * bs;
                            for (size_t j = 2; j < bs; j++) blk[j] = (uint8_t)qrng_u32(&r);
                            uint16_t h = qf32_to_f16(0.001f + 0.01f * qrng_uniform(&r));
                            memcpy(blk, &h, 2);
                        }
                        KernQMat W = {qt, N, K, nb, blocks, NULL, 0};
                        uint8_t *sb16 = NULL;
                        if (sb) {
                            if (nb % 16) {
                                free(blocks);
                                continue;
                            }
                            W.sb16 = 1;
                            const size_t rb = kern_qmat_row_bytes(&W);
                            sb16 = xmalloc64(rb * (size_t)N);
                            for (int i = 0; i < N; i++) kern_qmat_sb16_row(qt, nb, blocks + (size_t)i * nb * bs, sb16 + i * rb);
                            W.blocks = sb16;
                        }
                        float *X = xmalloc((size_t)T * K * sizeof(float));
                        for (int i = 0; i < T * K; i++) X[i] = qrng_normal(&r);
                        KernQAct x;
                        kern_qact_init(&x, T, K);
                        kern_qact_quantize(&x, X, T, K);
                        float *y0 = xmalloc((size_t)T * N * sizeof(float)), *y1 = xmalloc((size_t)T * N * sizeof(float));
                        float *ys = xmalloc((size_t)T * N * sizeof(float));
                        const size_t tiled = (size_t)(T / 16 * 16) * N; /* the tiles' tokens, first in Y */
                        kern_qmat_linear(&W, &x, NULL, ys, KERN_ISA_SCALAR);
                        kern_amx_force_off(1);
                        kern_qmat_linear(&W, &x, NULL, y0, KERN_ISA_AVX512VNNI);
                        kern_amx_force_off(0);
                        kern_qmat_linear(&W, &x, NULL, y1, KERN_ISA_AVX512VNNI);
                        CHECK_MSG(memcmp(ys, y1, tiled * sizeof(float)) == 0, "%s%s K %d N %d T %d: tiles differ from scalar",
                                  kern_qtype_name(qt), sb ? " sb16" : "", K, N, T);
                        CHECK_MSG(memcmp(y0 + tiled, y1 + tiled, ((size_t)T * N - tiled) * sizeof(float)) == 0,
                                  "%s%s K %d N %d T %d: the rest differs", kern_qtype_name(qt), sb ? " sb16" : "", K, N, T);
                        free(ys);
                        free(X);
                        free(y0);
                        free(y1);
                        free(blocks);
                        free(sb16);
                        kern_qact_free(&x);
                    }
}

int main(void) {
    RUN(config_bytes);
    RUN(emulator_dpbsud);
    RUN(self_test_guard);
    RUN(emulated_vs_exact);
    RUN(real_vs_emulated);
    RUN(linear_with_and_without_tiles);
    return test_summary("test_amx");
}
