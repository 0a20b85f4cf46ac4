/* pool.c — the kernels' own worker threads: tiles handed out one at a time, and the
 * calling thread never waits for a worker that has not started.
 *
 * Why not an OpenMP parallel-for: its closing barrier waits for every thread of the team.
 * On a shared 2-core machine where one core is taken by another process, the second
 * thread may not run for milliseconds, and a 0.3 ms int8 layer took 8 ms.  Here the caller
 * works through the tiles itself and waits only for tiles a worker actually claimed, so
 * a busy core costs at most the tile it is on.
 *
 * Claiming: one 64-bit atomic holds (generation << 32 | next tile).  A worker that woke
 * for an old generation fails its compare-and-swap and never touches the old job, whose
 * arguments may live on a stack frame that is gone.  The caller returns only when every
 * claimed tile is done, so a successful claim implies the job is still alive. */
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "kernels_internal.h"

enum { POOL_MAX_WORKERS = 15 };

typedef struct Pool {
    pthread_mutex_t mu;        /* guards gen, fn, arg, n for workers picking up a job */
    pthread_cond_t cv;
    pthread_mutex_t caller;    /* one caller at a time; others run serially */
    uint32_t gen;
    _Atomic uint32_t pub;      /* = gen, readable without the mutex (for spinning) */
    KernTileFn fn;
    void *arg;
    int n;
    int nworkers;
    _Atomic uint64_t claim;    /* gen << 32 | next tile */
    _Atomic int done;          /* tiles finished in the current generation */
} Pool;

static Pool pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0, 0, 0};
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* Claims and runs tiles of generation gen until none are left (or the generation moved on). */
static void run_tiles(uint32_t gen, KernTileFn fn, void *arg, int n) {
    for (;;) {
        uint64_t v = atomic_load(&pool.claim);
        if ((uint32_t)(v >> 32) != gen || (int)(uint32_t)v >= n) return;
        if (atomic_compare_exchange_weak(&pool.claim, &v, v + 1)) {
            fn(arg, (int)(uint32_t)v);
            atomic_fetch_add(&pool.done, 1);
        }
    }
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *worker(void *unused) {
    (void)unused;
    uint32_t seen = 0;
    for (;;) {
        /* A network calls the kernels layer after layer: stay awake ~0.2 ms for the next
         * job (a futex wake-up costs tens of microseconds, as much as a small layer),
         * then sleep so an idle pool takes no CPU from anyone. */
        double t0 = now_s();
        for (int i = 0; atomic_load(&pool.pub) == seen; i++) {
            cpu_relax();
            if ((i & 255) == 255 && now_s() - t0 > 2e-4) break;
        }
        pthread_mutex_lock(&pool.mu);
        while (pool.gen == seen) pthread_cond_wait(&pool.cv, &pool.mu);
        seen = pool.gen;
        KernTileFn fn = pool.fn;
        void *arg = pool.arg;
        int n = pool.n;
        pthread_mutex_unlock(&pool.mu);
        run_tiles(seen, fn, arg, n);
    }
    return NULL;
}

static void pool_start(void) {
    int want = omp_get_max_threads() - 1;
    if (want > POOL_MAX_WORKERS) want = POOL_MAX_WORKERS;
    for (int i = 0; i < want; i++) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, worker, NULL) == 0) pool.nworkers++;
        pthread_attr_destroy(&at);
    }
}

void kern_parallel_tiles(int ntiles, KernTileFn fn, void *arg, int big) {
    /* serial: small work, one thread wanted, already inside a parallel region, or the
     * pool busy with another caller */
    if (!big || ntiles < 2 || omp_get_max_threads() < 2 || omp_in_parallel()) {
        for (int t = 0; t < ntiles; t++) fn(arg, t);
        return;
    }
    pthread_once(&pool_once, pool_start);
    if (pool.nworkers == 0 || pthread_mutex_trylock(&pool.caller) != 0) {
        for (int t = 0; t < ntiles; t++) fn(arg, t);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    uint32_t gen = ++pool.gen;
    if (gen == 0) gen = ++pool.gen; /* 0 is every worker's initial "seen" */
    atomic_store(&pool.pub, gen);
    pool.fn = fn;
    pool.arg = arg;
    pool.n = ntiles;
    atomic_store(&pool.done, 0);
    atomic_store(&pool.claim, (uint64_t)gen << 32);
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    run_tiles(gen, fn, arg, ntiles);
    /* wait only for tiles a worker claimed and is still running */
    for (int spin = 0; atomic_load(&pool.done) < ntiles; spin++)
        if (spin > 2000) sched_yield();
    pthread_mutex_unlock(&pool.caller);
}
