/* pool.c — the kernels' own worker threads: tiles handed out one at a time, and the
 * calling thread never waits for a worker that has not started.
 *
 * Why not an OpenMP parallel-for: its closing barrier waits for every thread of the team.
 * On a shared 2-core machine where one core is taken by another process, the second
 * thread may not run for milliseconds, and a 0.3 ms int8 layer took 8 ms.  Here the caller
 * works through the tiles itself and waits only for tiles a worker actually claimed, so
 * a busy core costs at most the tile it is on.
 *
 * Claiming: the tiles are cut into one contiguous range per thread (caller first); a thread
 * takes its own range's tiles from the front, and when its range is empty takes others'
 * from their back.  Why ranges and not one counter: a decode step streams each matrix once
 * from memory, and a thread reading one ascending range keeps the hardware prefetcher (and
 * the kernels' own prefetch of the next rows) on its stream; tiles dealt out alternately
 * left every thread a stride of jumps (the Q4_0 decode read 31 GB/s of 2 threads' 57).
 * Each range is one 64-bit atomic (generation << 32 | front << 16 | back).  A worker that
 * woke for an old generation fails its compare-and-swap and never touches the old job, whose
 * arguments may live on a stack frame that is gone.  The caller returns only when every
 * claimed tile is done, so a successful claim implies the job is still alive.  Which thread
 * runs a tile never changes what the tile computes. */
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant/core.h"

#include "kernels_internal.h"

enum { POOL_MAX_WORKERS = 15, POOL_MAX_TILES = 65535 };

typedef struct Pool {
    pthread_mutex_t mu;        /* guards gen, fn, arg, nranges, ntiles, per for workers picking up a job */
    pthread_cond_t cv;
    pthread_mutex_t caller;    /* one caller at a time; others run serially */
    uint32_t gen;
    _Atomic uint32_t pub;      /* = gen, readable without the mutex (for spinning) */
    KernTileFn fn;
    void *arg;
    int nranges;               /* threads taking part: the caller and workers 1 .. nranges - 1 */
    int ntiles, per;           /* the job's tiles, and tiles per unit of the ranges */
    int counted;               /* 0: an async job (kern_parallel_async), not counted in done */
    _Alignas(16) unsigned char async_arg[KERN_ASYNC_ARG_MAX]; /* an async job's argument, copied */
    int nworkers;
    struct {
        _Alignas(64) _Atomic uint64_t v; /* gen << 32 | front << 16 | back; a cache line each */
    } range[POOL_MAX_WORKERS + 1];
    _Alignas(64) _Atomic int done; /* units finished in the current generation */
    _Atomic int async_busy;        /* a worker is inside an async job */
    _Atomic int async_stop;        /* kern_async_stop asks it to end (until the next is posted) */
} Pool;

static Pool pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .caller = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* Takes one tile of range i for generation gen: from the front (own range) or the back
 * (another's); -1 when the range is empty or belongs to another generation. */
static int claim(int i, uint32_t gen, int front) {
    for (;;) {
        uint64_t v = atomic_load(&pool.range[i].v);
        uint32_t f = (uint32_t)(v >> 16) & 0xFFFF, b = (uint32_t)v & 0xFFFF;
        if ((uint32_t)(v >> 32) != gen || f >= b) return -1;
        uint64_t w = front ? v + (1u << 16) : v - 1;
        if (atomic_compare_exchange_weak(&pool.range[i].v, &v, w)) return (int)(front ? f : b - 1);
    }
}

/* Thread self (0 = the caller) runs its range's units in order, then others' from their
 * backs, until none are left in generation gen.  A unit is `per` consecutive tiles (1 unless
 * there are more tiles than a range's 16-bit fields count).  The units run are counted once,
 * at the end: an atomic add per unit on the line the caller polls cost a cache-line transfer
 * between the cores each time (perf, W4 1.1B decode: that `lock add` was 2.2% of the samples,
 * 5% of the Q4_0 kernel's, at ~100 units per linear). */
static void run_tiles(int self, uint32_t gen, KernTileFn fn, void *arg, int nranges, int ntiles, int per, int counted) {
    int ran = 0;
    for (int k = 0; k < nranges; k++) {
        int i = (self + k) % nranges, u;
        while ((u = claim(i, gen, k == 0)) >= 0) {
            for (int t = u * per; t < ntiles && t < (u + 1) * per; t++) fn(arg, t);
            ran++;
        }
    }
    if (ran && counted) atomic_fetch_add(&pool.done, ran);
}

static _Thread_local uint32_t running_gen; /* the generation a worker is running */

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

static void *worker(void *index) {
    const int self = (int)(intptr_t)index;
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
        int nranges = pool.nranges, ntiles = pool.ntiles, per = pool.per, counted = pool.counted;
        _Alignas(16) unsigned char own[KERN_ASYNC_ARG_MAX];
        const int async = !counted && self < nranges; /* worker 1 only: the others have no unit */
        if (async) { /* the caller has moved on: its argument only in the pool's copy, read now */
            memcpy(own, pool.async_arg, sizeof own);
            arg = own;
            atomic_store(&pool.async_busy, 1); /* under the mutex: a job posted after this sees it */
        }
        pthread_mutex_unlock(&pool.mu);
        running_gen = seen;
        if (self < nranges) run_tiles(self, seen, fn, arg, nranges, ntiles, per, counted);
        if (async) atomic_store(&pool.async_busy, 0);
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
        if (pthread_create(&t, &at, worker, (void *)(intptr_t)(pool.nworkers + 1)) == 0) pool.nworkers++;
        pthread_attr_destroy(&at);
    }
}

/* Tiles per unit of the ranges: 1 unless there are more tiles than a range's 16-bit fields
 * count. */
static int tiles_per_unit(int ntiles) { return (ntiles + POOL_MAX_TILES - 1) / POOL_MAX_TILES; }

/* Threads taking part in a job of `units` units (the caller and workers 1 ..): at most the
 * OpenMP thread count, at most one per unit.  kern_pool_first_tile reads the same split. */
static int ranges_for(int units) {
    int nr = pool.nworkers + 1 < omp_get_max_threads() ? pool.nworkers + 1 : omp_get_max_threads();
    return nr > units ? units : nr;
}

/* A new generation, published for spinning workers (pool.mu held). */
static uint32_t post_locked(void) {
    uint32_t gen = ++pool.gen;
    if (gen == 0) gen = ++pool.gen; /* 0 is every worker's initial "seen" */
    atomic_store(&pool.pub, gen);
    return gen;
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
    const uint32_t gen = post_locked();
    const int per = tiles_per_unit(ntiles), units = (ntiles + per - 1) / per, nr = ranges_for(units);
    pool.fn = fn;
    pool.arg = arg;
    pool.nranges = nr;
    pool.ntiles = ntiles;
    pool.per = per;
    pool.counted = 1;
    atomic_store(&pool.done, 0);
    for (int i = 0; i < nr; i++) {
        uint64_t f = (uint64_t)units * i / nr, b = (uint64_t)units * (i + 1) / nr;
        atomic_store(&pool.range[i].v, (uint64_t)gen << 32 | f << 16 | b);
    }
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    run_tiles(0, gen, fn, arg, nr, ntiles, per, 1);
    /* wait only for units a worker claimed and is still running, and for an async job still
     * running (it stops within microseconds of this job's posting): once this returns, no
     * worker touches what an earlier async job was given */
    for (int spin = 0; atomic_load(&pool.done) < units || atomic_load(&pool.async_busy); spin++)
        if (spin > 2000) sched_yield();
    pthread_mutex_unlock(&pool.caller);
}

/* kernels_internal.h.  An async job is a generation of its own whose one unit is in worker 1's
 * range; the caller neither runs nor waits for it, and the unit is not counted in `done` (a
 * worker finishing it late would otherwise count towards the next job).  Its argument is copied
 * into the pool, where the worker copies it again under the mutex as it picks the job up. */
void kern_parallel_async(KernTileFn fn, const void *arg, size_t size) {
    if (size > KERN_ASYNC_ARG_MAX || omp_get_max_threads() < 2 || omp_in_parallel()) return;
    pthread_once(&pool_once, pool_start);
    if (pool.nworkers == 0 || pthread_mutex_trylock(&pool.caller) != 0) return;
    pthread_mutex_lock(&pool.mu);
    const uint32_t gen = post_locked();
    pool.fn = fn;
    pool.arg = NULL;
    memcpy(pool.async_arg, arg, size);
    pool.nranges = 2;
    pool.ntiles = 1;
    pool.per = 1;
    pool.counted = 0;
    atomic_store(&pool.async_stop, 0);
    atomic_store(&pool.range[0].v, (uint64_t)gen << 32);          /* the caller's: empty */
    atomic_store(&pool.range[1].v, (uint64_t)gen << 32 | 1);      /* worker 1's: the one unit */
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.caller);
}

int kern_pool_first_tile(int ntiles, int worker) {
    pthread_once(&pool_once, pool_start);
    const int per = tiles_per_unit(ntiles), units = (ntiles + per - 1) / per, nr = ranges_for(units);
    if (worker >= nr) return ntiles;
    return (int)((uint64_t)units * worker / nr) * per;
}

int kern_async_superseded(void) { return atomic_load(&pool.pub) != running_gen || atomic_load(&pool.async_stop); }

/* The stop is sticky and set before busy is read, and the worker sets busy before its first
 * check (all sequentially consistent): either this sees the worker busy and waits, or the
 * worker sees the stop before it touches anything. */
void kern_async_stop(void) {
    atomic_store(&pool.async_stop, 1);
    while (atomic_load(&pool.async_busy)) cpu_relax();
}

/* Per-thread scratch (kernels_internal.h).  A pool worker keeps its buffers until the process
 * ends; they are reachable through its thread-local storage. */
static _Thread_local struct {
    void *p;
    size_t cap;
} scratch[KERN_SCRATCH_SLOTS];

void *kern_thread_scratch(int slot, size_t bytes) {
    if (bytes > scratch[slot].cap) {
        free(scratch[slot].p);
        scratch[slot].p = xmalloc64(bytes);
        scratch[slot].cap = bytes;
    }
    return scratch[slot].p;
}
