#!/usr/bin/env python3
"""gguf_tensors_equal.py A.gguf B.gguf — whether two GGUF files hold the same tensors (name,
type, shape, bytes), whatever their order in the file; the metadata is not compared.  Used by
bench/export_1b.sh to check a streamed export against the independently written file of
bench/llm_1b_files.py (same codes, same scales).  A minimal GGUF v3 reader (no numpy needed)."""
import hashlib
import struct
import sys

SIZES = {0: 1, 1: 1, 2: 1, 3: 1, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # scalar value types
# tensor types: (elements, bytes) per block; 10-14 = Q2_K .. Q6_K (llama-quantize's K types)
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210)}


def tensors(path):
    """(open file, [(name, type, ne, absolute offset, bytes)]) from a GGUF v3 header."""
    f = open(path, "rb")
    magic, ver, nt, nkv = struct.unpack("<4sIQQ", f.read(24))
    assert magic == b"GGUF" and ver == 3, path
    align = 32

    def s():
        (n,) = struct.unpack("<Q", f.read(8))
        return f.read(n)

    def val(t):
        if t == 8:
            return s()
        if t == 9:
            at, n = struct.unpack("<IQ", f.read(12))
            return [val(at) for _ in range(n)]
        b = f.read(SIZES[t])
        return b
    for _ in range(nkv):
        k = s()
        (t,) = struct.unpack("<I", f.read(4))
        v = val(t)
        if k == b"general.alignment":
            align = struct.unpack("<I", v)[0]
    infos = []
    for _ in range(nt):
        name = s().decode()
        (nd,) = struct.unpack("<I", f.read(4))
        ne = struct.unpack("<%dQ" % nd, f.read(8 * nd))
        typ, off = struct.unpack("<IQ", f.read(12))
        infos.append((name, typ, ne, off))
    base = (f.tell() + align - 1) // align * align
    out = []
    for name, typ, ne, off in infos:
        be, bb = BLOCK[typ]
        n = 1
        for d in ne[1:]:
            n *= d
        out.append((name, typ, ne, base + off, ne[0] // be * bb * n))
    return f, out


def read(path):
    f, infos = tensors(path)
    out = {}
    for name, typ, ne, off, nbytes in infos:
        f.seek(off)
        h = hashlib.sha256()
        left = nbytes
        while left:
            chunk = f.read(min(left, 1 << 24))
            assert chunk, "%s: %s past the end" % (path, name)
            h.update(chunk)
            left -= len(chunk)
        out[name] = (typ, ne, h.hexdigest())
    return out


def main():
    a, b = read(sys.argv[1]), read(sys.argv[2])
    bad = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    for k in bad[:10]:
        print("differs: %s %s %s" % (k, a.get(k, "missing")[:2], b.get(k, "missing")[:2]))
    print("%d tensors, %d differ" % (len(a), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
