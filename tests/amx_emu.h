/* amx_emu.h — the AMX tile instructions that qmat_amx_tile.h uses, emulated from their
 * documented semantics (Intel SDM: LDTILECFG, TILELOADD, TILESTORED, TILEZERO, TDPBSUD,
 * TILERELEASE), so that the kernel runs, and is checked, on a CPU without AMX.
 *
 * Strict where the hardware faults: a configuration with a nonzero reserved byte, a palette
 * other than 1, more than 16 rows or 64 bytes a row (#GP); a tile instruction before a
 * configuration, a tile with no shape, or a product whose shapes disagree (#UD) abort the
 * test with the reason.  Loads and stores touch exactly rows x colsb bytes, so ASan sees any
 * out-of-bounds tile row; the rest of a loaded row is zero, as in the hardware. */
#ifndef QUANT_AMX_EMU_H
#define QUANT_AMX_EMU_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    int configured;
    int rows[8], colsb[8];
    uint8_t t[8][16][64];
    long products; /* tdpbsud executed (tests check the tiles ran at all) */
} amx_emu;

static void amx_emu_fault(const char *why) {
    fprintf(stderr, "amx_emu: %s (the hardware would fault)\n", why);
    abort();
}

/* The 64 bytes as the SDM's table lays them out, read byte by byte. */
static void amx_emu_loadconfig(const void *p) {
    const uint8_t *b = p;
    if (b[0] == 0) { /* palette 0: the init state */
        amx_emu.configured = 0;
        return;
    }
    if (b[0] != 1) amx_emu_fault("palette is not 1");
    for (int i = 2; i < 16; i++)
        if (b[i]) amx_emu_fault("reserved byte 2-15 set");
    for (int i = 32; i < 48; i++)
        if (b[i]) amx_emu_fault("reserved byte 32-47 set");
    for (int i = 56; i < 64; i++)
        if (b[i]) amx_emu_fault("reserved byte 56-63 set");
    for (int i = 0; i < 8; i++) {
        amx_emu.colsb[i] = b[16 + 2 * i] | b[17 + 2 * i] << 8;
        amx_emu.rows[i] = b[48 + i];
        if (amx_emu.rows[i] > 16 || amx_emu.colsb[i] > 64) amx_emu_fault("tile larger than 16 rows x 64 bytes");
        if ((amx_emu.rows[i] == 0) != (amx_emu.colsb[i] == 0)) amx_emu_fault("tile with rows but no columns, or the reverse");
    }
    memset(amx_emu.t, 0, sizeof amx_emu.t);
    amx_emu.configured = 1;
}

static void amx_emu_check(int t) {
    if (!amx_emu.configured) amx_emu_fault("tile instruction before ldtilecfg");
    if (t < 0 || t > 7 || amx_emu.rows[t] == 0) amx_emu_fault("tile not configured");
}

static void amx_emu_release(void) { amx_emu.configured = 0; }

static void amx_emu_zero(int t) {
    amx_emu_check(t);
    memset(amx_emu.t[t], 0, sizeof amx_emu.t[t]);
}

static void amx_emu_loadd(int t, const void *base, long stride) {
    amx_emu_check(t);
    memset(amx_emu.t[t], 0, sizeof amx_emu.t[t]);
    for (int r = 0; r < amx_emu.rows[t]; r++) memcpy(amx_emu.t[t][r], (const uint8_t *)base + r * stride, (size_t)amx_emu.colsb[t]);
}

static void amx_emu_stored(int t, void *base, long stride) {
    amx_emu_check(t);
    for (int r = 0; r < amx_emu.rows[t]; r++) memcpy((uint8_t *)base + r * stride, amx_emu.t[t][r], (size_t)amx_emu.colsb[t]);
}

/* c[m].dword[n] += sum_k sum_i sign_extend(a[m].byte[4k + i]) * zero_extend(b[k].byte[4n + i]) */
static void amx_emu_dpbsud(int c, int a, int b) {
    amx_emu_check(c);
    amx_emu_check(a);
    amx_emu_check(b);
    if (amx_emu.rows[a] != amx_emu.rows[c] || amx_emu.colsb[a] % 4 || amx_emu.colsb[a] / 4 != amx_emu.rows[b] ||
        amx_emu.colsb[b] != amx_emu.colsb[c] || amx_emu.colsb[c] % 4)
        amx_emu_fault("tdpbsud shapes disagree");
    for (int m = 0; m < amx_emu.rows[c]; m++)
        for (int n = 0; n < amx_emu.colsb[c] / 4; n++) {
            int32_t acc;
            memcpy(&acc, &amx_emu.t[c][m][4 * n], 4);
            for (int k = 0; k < amx_emu.colsb[a] / 4; k++)
                for (int i = 0; i < 4; i++)
                    acc = (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int8_t)amx_emu.t[a][m][4 * k + i] *
                                                               (int32_t)amx_emu.t[b][k][4 * n + i]));
            memcpy(&amx_emu.t[c][m][4 * n], &acc, 4);
        }
    amx_emu.products++;
}

#define AMX_CFG(cfg) amx_emu_loadconfig(cfg)
#define AMX_RELEASE() amx_emu_release()
#define AMX_ZERO(t) amx_emu_zero(t)
#define AMX_LOAD(t, p, s) amx_emu_loadd(t, p, (long)(s))
#define AMX_STORE(t, p, s) amx_emu_stored(t, p, (long)(s))
#define AMX_DPBSUD(c, a, b) amx_emu_dpbsud(c, a, b)
#define AMX_FN

#endif
