/* llama_quantize.c — the peer of bench/llm_stream.sh: llama.cpp's llama_model_quantize (what
 * the llama-quantize tool calls) from node-llama-cpp's shared library, loaded with dlopen.
 *
 *   LD_LIBRARY_PATH=DIR llama_quantize DIR/libllama.v0.4.0.so IN-F16.gguf OUT.gguf [ftype 2 = Q4_0] [threads]
 *
 * The parameters come from llama_model_quantize_default_params(); only nthread (the struct's
 * first int) and ftype (the second, enum llama_ftype) are changed, so the struct's later
 * fields (which vary between versions) are never named.  Returned by value through a buffer
 * larger than any version's struct (the x86-64 ABI returns it through a hidden pointer). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct Params {
    int32_t nthread;
    int32_t ftype;
    unsigned char rest[1016];
} Params;

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: llama_quantize LIBLLAMA.so IN.gguf OUT.gguf [ftype] [threads]\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "llama_quantize: %s\n", dlerror());
        return 1;
    }
    Params (*defaults)(void) = (Params(*)(void))dlsym(h, "llama_model_quantize_default_params");
    uint32_t (*quantize)(const char *, const char *, const Params *) =
        (uint32_t(*)(const char *, const char *, const Params *))dlsym(h, "llama_model_quantize");
    void (*init)(void) = (void (*)(void))dlsym(h, "llama_backend_init");
    if (!defaults || !quantize) {
        fprintf(stderr, "llama_quantize: symbols not found in %s\n", argv[1]);
        return 1;
    }
    if (init) init();
    Params p = defaults();
    p.ftype = argc > 4 ? atoi(argv[4]) : 2;
    p.nthread = argc > 5 ? atoi(argv[5]) : 2;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint32_t rc = quantize(argv[2], argv[3], &p);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("llama_model_quantize %s -> %s: ftype %d, %d threads, rc %u, %.2f s\n", argv[2], argv[3], p.ftype, p.nthread, rc,
           (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec));
    return rc ? 1 : 0;
}
