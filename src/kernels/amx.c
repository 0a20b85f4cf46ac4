/* amx.c — may this process run the AMX int8 tile kernel (qmat_amx.c)?  Decided once, on the
 * first prompt that would use it (kern_amx_init), and said in one line (kern_amx_status).
 *
 * Compiled with the baseline flags: it runs on every CPU, and only calls into qmat_amx.c once
 * the CPU, the OS and a self-test have all said yes.  The steps:
 *   1. CPUID: AMX-TILE and AMX-INT8, and the AVX-512 VNNI + VBMI prompt kernel that the tiles
 *      run inside (QUANT_ISA caps it; QUANT_AMX=0 turns the tiles off);
 *   2. XCR0: the OS has enabled the tile state (bits 17 and 18);
 *   3. Linux's arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA): a process must ask before its first
 *      tile instruction, which otherwise kills it with SIGILL (Documentation/arch/x86/xstate.rst);
 *   4. the self-test (kern_qmat_amx_selftest) in a forked child first, then in the process.
 * Why the child: no CPU that quant was developed on had AMX, so the kernel was tested only on
 * an emulator of the instructions (tests/test_amx.c).  A tile configuration the hardware
 * rejects raises #GP, a signal that would end the user's run; in a child it only turns the
 * tiles off, with the reason printed where the kernels are described. */
#include <cpuid.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels_internal.h"

enum { ARCH_REQ_XCOMP_PERM_ = 0x1023, XFEATURE_XTILEDATA_ = 18 }; /* <asm/prctl.h>, not in every libc */

static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static int amx_ok, amx_off_forced;
static char amx_why[160];

static int os_tiles(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c >> 27 & 1)) return 0; /* OSXSAVE: xgetbv allowed */
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo >> 17 & 3) == 3;
}

int kern_run_in_child(int (*fn)(void), unsigned seconds) {
    fflush(NULL); /* the child must not write the parent's buffered output a second time */
    const pid_t pid = fork();
    if (pid == 0) {
        alarm(seconds);
        _exit(fn() ? 1 : 0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return INT_MIN;
    if (WIFSIGNALED(st)) return -WTERMSIG(st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : INT_MIN;
}

static void amx_decide(void) {
    const char *env = getenv("QUANT_AMX");
    if (!kern_cpu_amx_int8()) {
        snprintf(amx_why, sizeof amx_why, "none on this CPU");
        return;
    }
    if (env && strcmp(env, "0") == 0) {
        snprintf(amx_why, sizeof amx_why, "off (QUANT_AMX=0)");
        return;
    }
    __builtin_cpu_init();
    if (kern_isa_best() < KERN_ISA_AVX512VNNI || !__builtin_cpu_supports("avx512vbmi")) {
        snprintf(amx_why, sizeof amx_why, "off (the tiles run inside the AVX-512 VNNI + VBMI kernels, not chosen here)");
        return;
    }
    if (!os_tiles()) {
        snprintf(amx_why, sizeof amx_why, "off (the OS has not enabled the tile state in XCR0)");
        return;
    }
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM_, XFEATURE_XTILEDATA_) != 0) {
        snprintf(amx_why, sizeof amx_why, "off (the kernel refused arch_prctl(ARCH_REQ_XCOMP_PERM))");
        return;
    }
    const int rc = kern_run_in_child(kern_qmat_amx_selftest, 10);
    if (rc == INT_MIN) {
        snprintf(amx_why, sizeof amx_why, "off (the self-test could not be run in a child process)");
        return;
    }
    if (rc < 0) {
        snprintf(amx_why, sizeof amx_why, "off (the self-test died of signal %d: please report this CPU)", -rc);
        return;
    }
    if (rc != 0 || kern_qmat_amx_selftest()) {
        snprintf(amx_why, sizeof amx_why, "off (the self-test's sums were wrong: please report this CPU)");
        return;
    }
    amx_ok = 1;
    snprintf(amx_why, sizeof amx_why, "on (int8 tiles for prompts of 16 tokens and more; self-test passed)");
}

void kern_amx_init(void) { pthread_once(&amx_once, amx_decide); }

int kern_amx_on(void) { return amx_ok && !amx_off_forced; }

void kern_amx_force_off(int off) { amx_off_forced = off; }

const char *kern_amx_status(void) {
    kern_amx_init();
    if (amx_off_forced) return "off (turned off by the caller)";
    return amx_why;
}
