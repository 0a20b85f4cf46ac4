/* bench_membw.c — the machine's read bandwidth now (kernels.h: kern_read_bandwidth), for
 * bench/llm_vs_llamacpp.sh, which measures it just before and just after each llama.cpp run so
 * that llama.cpp's decode is set against the bandwidth of its own moment, as `quant bench` does
 * for quant's.  Prints bytes/s.
 *
 *   bench_membw [MiB (1024)] [threads (2)] [reps (5)] */
#include <stdio.h>
#include <stdlib.h>

#include "quant/kernels.h"

int main(int argc, char **argv) {
    long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 1024, threads = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
    long reps = argc > 3 ? strtol(argv[3], NULL, 10) : 5;
    if (mib < 64 || mib > (1L << 16) || threads < 1 || threads > 64 || reps < 1 || reps > 100) {
        fprintf(stderr, "usage: bench_membw [MiB 64..65536] [threads 1..64] [reps 1..100]\n");
        return 2;
    }
    printf("%.0f\n", kern_read_bandwidth((size_t)mib << 20, (int)threads, (int)reps));
    return 0;
}
