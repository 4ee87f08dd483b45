// A pool of worker threads that spin briefly between jobs, for the engine's batch-1 splits: a network of 50–150
// layers hands every layer to the threads, and a worker woken from sleep (Dispatch's, or a condition variable's)
// takes 20–30 µs to start on this kind of machine, which is a layer's whole run time on a small network. A worker
// that finds no job spins for a short budget (`ck_pool_set_spin`) and then sleeps on a condition variable.
//
// One caller owns the pool at a time; a second caller (another thread, or a task of a running job) gets 0 back and
// runs its work some other way, so the pool never nests and never blocks a caller.
//
// A job is published as one 64-bit word: generation (32 bits) | task count (16) | next unclaimed task (16). A worker
// claims task i by a compare-and-swap from (g, n, i) to (g, n, i + 1); only after a claim does it read the job's
// function and context, which the owner cannot replace until every task of g is done — so a worker that wakes late
// can never run a task of a job that has ended.
#include "CKernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ck_relax() _mm_pause()
#elif defined(__aarch64__)
#define ck_relax() __asm__ __volatile__("yield")
#else
#define ck_relax() ((void)0)
#endif

enum { CK_POOL_MAX_WORKERS = 255 };

static struct {
    atomic_int busy;                 // 1 while a caller owns the pool
    _Atomic uint64_t state;          // generation | tasks | next task (see above)
    atomic_int done;                 // tasks of the current job finished
    atomic_int helpers;              // workers 0 ..< helpers may take part in the current job
    atomic_int sleepers;             // workers asleep (or about to be) on `wake`
    atomic_long spin_ns;             // how long a worker spins for a job before sleeping
    ck_task_fn function;             // written by the owner before a job is published, read after a claim
    void *context;
    int workers;                     // threads started (changed only by the owner)
    uint64_t start[CK_POOL_MAX_WORKERS]; // the word before the job that started worker i (its first `seen`)
    pthread_mutex_t lock;
    pthread_cond_t wake;
} pool = {
    .spin_ns = 200000,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

static inline uint64_t pack(uint32_t generation, uint32_t tasks, uint32_t next) {
    return ((uint64_t)generation << 32) | ((uint64_t)tasks << 16) | next;
}
static inline uint32_t tasks_of(uint64_t s) { return (uint32_t)(s >> 16) & 0xFFFF; }
static inline uint32_t next_of(uint64_t s) { return (uint32_t)s & 0xFFFF; }

static inline int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/// Claims and runs tasks of the job in `s` until none is left unclaimed; returns the last word it saw (a job with no
/// task left to claim), so the caller can wait for the word to change.
static uint64_t run_tasks(uint64_t s) {
    for (;;) {
        uint32_t next = next_of(s);
        if (next >= tasks_of(s)) return s;
        // On a failed exchange `s` holds the current word: the same job with a later task, or a later job (whose
        // tasks may be taken too: the claim is what makes running a task safe).
        if (atomic_compare_exchange_weak(&pool.state, &s, s + 1)) {
            pool.function(pool.context, next);
            atomic_fetch_add(&pool.done, 1);
            s += 1;
        }
    }
}

/// Spins for a changed word for the spin budget, then sleeps until the word changes; returns the new word.
static uint64_t wait_for_change(uint64_t seen) {
    uint64_t s = atomic_load_explicit(&pool.state, memory_order_acquire);
    if (s != seen) return s;
    int64_t deadline = now_ns() + atomic_load_explicit(&pool.spin_ns, memory_order_relaxed);
    for (int spins = 1;; spins++) {
        ck_relax();
        if ((s = atomic_load_explicit(&pool.state, memory_order_acquire)) != seen) return s;
        if (spins % 64 == 0 && now_ns() >= deadline) break;
    }
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.sleepers, 1);
    while ((s = atomic_load(&pool.state)) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    return s;
}

static void *worker_main(void *argument) {
    int index = (int)(intptr_t)argument;
    // Not the word now: the job that started this worker may already be published (and partly claimed), and a
    // worker that took it as seen would wait for the next one while the owner waits for it.
    uint64_t seen = pool.start[index];
    for (;;) {
        uint64_t s = wait_for_change(seen);
        seen = index < atomic_load_explicit(&pool.helpers, memory_order_relaxed) ? run_tasks(s) : s;
    }
    return NULL;
}

void ck_pool_set_spin(int64_t microseconds) {
    atomic_store(&pool.spin_ns, (long)(microseconds < 0 ? 0 : microseconds > 1000000 ? 1000000000 : microseconds * 1000));
}

int ck_pool_run(int64_t tasks, int threads, ck_task_fn function, void *context) {
    if (tasks < 1 || tasks > 0xFFFF || threads < 2 || function == NULL) return 0;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&pool.busy, &expected, 1)) return 0;
    int wanted = threads - 1 > CK_POOL_MAX_WORKERS ? CK_POOL_MAX_WORKERS : threads - 1;
    while (pool.workers < wanted) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pool.start[pool.workers] = atomic_load(&pool.state);
        int failed = pthread_create(&thread, &attributes, worker_main, (void *)(intptr_t)pool.workers);
        pthread_attr_destroy(&attributes);
        if (failed) break;
        pool.workers += 1;
    }
    if (pool.workers == 0) {
        atomic_store(&pool.busy, 0);
        return 0;
    }
    pool.function = function;
    pool.context = context;
    atomic_store(&pool.done, 0);
    atomic_store(&pool.helpers, wanted < pool.workers ? wanted : pool.workers);
    uint64_t previous = atomic_load(&pool.state);
    uint64_t s = pack((uint32_t)(previous >> 32) + 1, (uint32_t)tasks, 0);
    atomic_store(&pool.state, s);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    run_tasks(s);
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < (int)tasks) ck_relax();
    atomic_store(&pool.busy, 0);
    return 1;
}
