#!/usr/bin/env python3
"""llamacpp_quantize.py IN.gguf OUT.gguf TYPE [THREADS] — llama.cpp's own quantizer
(llama_model_quantize in the libllama that node-llama-cpp 3.21.1 ships, tests/npm), on a GGUF
file quant exported in F32: the peer's figure beside quant's exported codes, and files of the types quant reads (TYPE: Q8_0, Q4_0,
Q4_1, Q5_0, Q5_1, and llama-quantize's K mixes Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K).  Only the two leading fields of llama_model_quantize_params are set
(nthread, ftype); the rest keep llama_model_quantize_default_params().  A benchmark helper,
used by tests/integration/gguf.sh (GGUF types quant reads, written by llama.cpp)."""
import ctypes
import glob
import os
import sys

FTYPES = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_M": 12, "Q4_K_M": 15,
          "Q5_K_M": 17, "Q6_K": 18}  # llama.cpp's LLAMA_FTYPE_MOSTLY_*


class Params(ctypes.Structure):
    # nthread, ftype, then the rest of the struct as opaque bytes (room to spare: it is returned
    # by value through a hidden pointer, so the buffer only has to be at least its size)
    _fields_ = [("nthread", ctypes.c_int32), ("ftype", ctypes.c_int32), ("rest", ctypes.c_uint8 * 504)]


def main(argv):
    if len(argv) < 3 or argv[2] not in FTYPES:
        print(__doc__)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    libdir = os.path.join(here, "..", "npm", "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
    for dep in ("libggml-base.so", "libggml.v*.so"):
        ctypes.CDLL(glob.glob(os.path.join(libdir, dep))[0], mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(glob.glob(os.path.join(libdir, "libllama.v*.so"))[0])
    lib.llama_model_quantize_default_params.restype = Params
    lib.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(Params)]
    lib.llama_model_quantize.restype = ctypes.c_uint32
    p = lib.llama_model_quantize_default_params()
    p.nthread = int(argv[3]) if len(argv) > 3 else 1
    p.ftype = FTYPES[argv[2]]
    rc = lib.llama_model_quantize(argv[0].encode(), argv[1].encode(), ctypes.byref(p))
    print("llama_model_quantize(%s -> %s, %s): %d" % (argv[0], argv[1], argv[2], rc))
    return 1 if rc else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
