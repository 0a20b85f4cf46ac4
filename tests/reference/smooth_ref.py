#!/usr/bin/env python3
"""Independent numpy reference for the SmoothQuant / AWQ searches (tests/test_smooth.c), written
from the papers' definitions and quant's documented grids (docs/design.md, qparams.h):

  SmoothQuant: s_j = max|X_j|^a / max_k,r |W_k[r, j]|^(1-a)   (zero maxima: s = 1; s >= 1e-5)
               error(a) = ||Qa(X / s) Qw(W s)^T - X W^T||^2 / ||X W^T||^2
  AWQ:         s_j = mean|X_j|^p / sqrt(max s * min s)
               error(p) = sum tr(dW H dW^T) / sum tr(W H W^T), H = X^T X / n, dW = Qw(W s) / s - W
  AWQ clipping: per (row, group) the ratio c in 1 - 0.5 i / 19 minimising d^T H_gg d,
               d = Qw(clip(w, c lo, c hi)) - w   (on W1 s, H / (s s^T))
  Static activation range: [lo, hi] minimising ||Qa(X; lo, hi) W^T - X W^T||^2 / ||X W^T||^2,
               lo = a min(X, 0), hi = b max(X, 0), a and b on the ratios c_i = 1 - 0.75 i / (NG - 1):
               a = b = c_i first, then b alone, then a alone (the first minimum wins)

Weights Qw: below 8 bits symmetric over all 2^b levels with the extreme value on qmin (scale =
e / qmin, e the signed extreme of [min(v, 0), max(v, 0)]); at 8 bits llama.cpp's Q8_0 grid
(scale = max|v| / 127, codes -127..127); scale rounded to float16 upward in magnitude, min-max
per row or per group (a ragged tail joins the last full group).  Activations Qa: per tensor
affine 8-bit over [min, max] (times aclip), or per token symmetric |x|max / 127.

usage: smooth_ref.py sq|awq|clip|range DIR NR IN O1 O2 tensor|token|none WBITS|ABITS WGROUP ACLIP|P NG OUT
(range writes the first stage's NG errors, then lo and hi)"""
import sys

import numpy as np

f32 = np.float32


def f16_up(a):
    r = float(np.float16(a))
    if r <= 0:
        r = 2.0 ** -24
    if r < a:
        r = float(np.nextafter(np.float16(r), np.float16(np.inf)))
    return r


def units(K, g):
    if g == 0 or K <= g:
        return [(0, K)]
    n = K // g
    u = [(i * g, (i + 1) * g) for i in range(n)]
    if K % g:
        u[-1] = ((n - 1) * g, K)
    return u


def unit_scale(v, bits):
    lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    if bits == 8:  # llama.cpp's Q8_0 grid: max|v| / 127 onto -127..127
        s = max(-lo, hi) / 127.0
        if s == 0:
            s = 1.0
        return f32(f16_up(abs(f32(s))))
    e = lo if -lo > hi else hi
    s = e / -(2 ** (bits - 1))
    if s == 0:
        s = 1.0
    a = f16_up(abs(f32(s)))
    return f32(-a if s < 0 else a)


def q_unit(v, s, bits):
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if bits == 8:
        qmin = -qmax
    c = np.clip(v.astype(f32) / s, qmin, qmax)
    return (s * np.rint(c).astype(f32)).astype(f32)


def wq(W, bits, g):
    out = np.empty_like(W, dtype=f32)
    for r in range(W.shape[0]):
        for c0, c1 in units(W.shape[1], g):
            v = W[r, c0:c1]
            out[r, c0:c1] = q_unit(v, unit_scale(v, bits), bits)
    return out


def aq(X, mode, aclip):
    X = X.astype(f32)
    if mode == "token":
        out = np.empty_like(X)
        for t in range(X.shape[0]):
            m = f32(np.abs(X[t]).max())
            if m <= 0:
                out[t] = X[t]
                continue
            s = f32(m / f32(127))
            out[t] = np.clip(np.rint(X[t] / s), -127, 127).astype(f32) * s
        return out
    lo, hi = f32(min(X.min(), 0)), f32(max(X.max(), 0))
    if 0 < aclip < 1:
        lo, hi = f32(lo * f32(aclip)), f32(hi * f32(aclip))
    s = f32((hi - lo) / f32(255))
    z = int(np.clip(np.rint(f32(-128) - lo / s), -128, 127))
    v = np.clip(X / s, -128 - z, 127 - z)
    return (s * np.rint(v).astype(f32)).astype(f32)  # s * ((round(v) + z) - z)


def aq_range(X, lo, hi, bits):
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    s = f32((hi - lo) / f32(qmax - qmin))
    z = int(np.clip(np.rint(f32(qmin) - lo / s), qmin, qmax))
    v = np.clip(X / s, qmin - z, qmax - z)
    return (s * np.rint(v).astype(f32)).astype(f32)


def range_search(X, W64, bits, NG):
    lo0, hi0 = f32(min(X.min(), 0)), f32(max(X.max(), 0))
    Yref = X.astype(np.float64) @ W64.T
    ref = (Yref ** 2).sum()
    ratios = [f32(f32(1) - f32(0.75) * f32(i) / f32(NG - 1)) for i in range(NG)]

    def err(a, b):
        return ((aq_range(X, f32(a * lo0), f32(b * hi0), bits).astype(np.float64) @ W64.T - Yref) ** 2).sum() / ref

    errs = [err(c, c) for c in ratios]
    i = int(np.argmin(errs))
    best, ca, cb = errs[i], ratios[i], ratios[i]
    if hi0 != 0:
        for c in ratios:
            e = err(ca, c)
            if c != cb and e < best:
                best, cb = e, c
    if lo0 != 0:
        for c in ratios:
            e = err(c, cb)
            if c != ca and e < best:
                best, ca = e, c
    return errs + [float(f32(ca * lo0)), float(f32(cb * hi0))]


def main(a):
    kind, d = a[0], a[1]
    NR, IN, O1, O2 = map(int, a[2:6])
    mode, bits, g, par, NG, out = a[6], int(a[7]), int(a[8]), float(a[9]), int(a[10]), a[11]
    X = np.fromfile(d + "/X.bin", dtype=f32).reshape(NR, IN)
    W1 = np.fromfile(d + "/W1.bin", dtype=f32).reshape(O1, IN)
    W2 = np.fromfile(d + "/W2.bin", dtype=f32).reshape(O2, IN)
    W = np.vstack([W1, W2])
    X64, W64 = X.astype(np.float64), W.astype(np.float64)
    grid = [i / (NG - 1) for i in range(NG)]
    if kind == "range":
        res = range_search(X, W64, bits, NG)
    elif kind == "sq":
        xmax = np.abs(X64).max(axis=0)
        wmax = np.abs(W64).max(axis=0)
        Yref = X64 @ W64.T
        ref = (Yref ** 2).sum()
        errs = []
        for al in grid:
            s = np.where((xmax > 0) & (wmax > 0), np.maximum(xmax ** al / wmax ** (1 - al), 1e-5), 1.0).astype(f32)
            Wq = wq((W * s).astype(f32), bits, g).astype(np.float64)
            Xq = aq((X / s).astype(f32), mode, par).astype(np.float64)
            errs.append(((Xq @ Wq.T - Yref) ** 2).sum() / ref)
        res = errs + [grid[int(np.argmin(errs))]]
    elif kind in ("awq", "clip"):
        xmean = np.abs(X64).mean(axis=0)
        pos = xmean[xmean > 0].min()
        H = X64.T @ X64 / NR

        def scales(p):
            s = np.where(xmean > 0, xmean, pos) ** p
            return (s / np.sqrt(s.max() * s.min())).astype(f32)

        def err(s):
            Wq = wq((W * s).astype(f32), bits, g).astype(np.float64) / s.astype(np.float64)
            dW = Wq - W64
            return (dW * (dW @ H)).sum() / (W64 * (W64 @ H)).sum()

        if kind == "awq":
            errs = [err(scales(p)) for p in grid]
            res = errs + [grid[int(np.argmin(errs))]]
        else:
            s = scales(par)
            Ws = (W1 * s).astype(f32)
            Hs = H / np.outer(s.astype(np.float64), s.astype(np.float64))
            res = []
            for r in range(O1):
                for c0, c1 in units(IN, g):
                    w = Ws[r, c0:c1]
                    lo, hi = w.min(), w.max()
                    best, bc = np.inf, 1.0
                    for i in range(NG):
                        c = f32(f32(1) - f32(0.5) * f32(i) / f32(NG - 1))
                        t = np.clip(w, f32(c * lo), f32(c * hi))
                        dd = (q_unit(t, unit_scale(t, bits), bits) - w).astype(np.float64)
                        e = dd @ Hs[c0:c1, c0:c1] @ dd
                        if e < best:
                            best, bc = e, float(c)
                    res.append(bc)
    np.asarray(res, dtype="<f8").tofile(out)


if __name__ == "__main__":
    main(sys.argv[1:])
