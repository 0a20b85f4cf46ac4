/* quantize.c — float activations to int8 codes at the entry of an integer-only network:
 * the scalar reference (quant_code itself) and the dispatch to the SIMD versions, which
 * do the same IEEE operations in the same order and so give the same codes bit for bit. */
#include "kernels_internal.h"
#include "quant/qparams.h"

void kern_quantize_f32_s8_scalar(int64_t n, const float *x, float scale, int32_t zero, int32_t qmin, int32_t qmax,
                                 int8_t *y) {
    for (int64_t i = 0; i < n; i++) y[i] = (int8_t)quant_code(x[i], scale, zero, qmin, qmax);
}

void kern_quantize_f32_s8(int64_t n, const float *x, float scale, int32_t zero, int32_t qmin, int32_t qmax,
                          int8_t *y, KernIsa isa) {
    switch (isa) {
        case KERN_ISA_AVX512VNNI: kern_quantize_f32_s8_avx512(n, x, scale, zero, qmin, qmax, y); break;
        case KERN_ISA_AVX2: kern_quantize_f32_s8_avx2(n, x, scale, zero, qmin, qmax, y); break;
        default: kern_quantize_f32_s8_scalar(n, x, scale, zero, qmin, qmax, y);
    }
}

KernIsa kern_s8_weights_isa(const KernS8Weights *w) { return w->isa; }
