/* atomics.h - the library's one atomics layer: C11 <stdatomic.h>.
 *
 * Fields only the library declares are _Atomic and are accessed with the
 * atomic_*_explicit functions, naming the order wherever it is weaker than
 * sequentially consistent.
 *
 * Objects whose layout the public header shows (mp_lock, mp_event, the
 * queue and pipe headers a caller may place in its own shared memory) keep
 * plain integer fields, so that mproc.h needs no _Atomic (C++, older
 * compilers).  The library sees such a field as atomic through
 * MP__ATOMIC(p), a view of the same object as its _Atomic type; the static
 * assertions below check that the two have the same size and alignment,
 * as they do for every lock-free integer on the compilers we support. */
#ifndef MPROC_ATOMICS_H
#define MPROC_ATOMICS_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MP__SAME_LAYOUT(T)                                                                   \
    _Static_assert(sizeof(_Atomic T) == sizeof(T) && alignof(_Atomic T) == alignof(T),       \
                   "_Atomic " #T " has the layout of " #T)
MP__SAME_LAYOUT(uint32_t);
MP__SAME_LAYOUT(int32_t);
MP__SAME_LAYOUT(uint64_t);
MP__SAME_LAYOUT(int64_t);
#undef MP__SAME_LAYOUT

/* The _Atomic view of a plain integer field of a shared object (const
 * fields may only be loaded). */
#define MP__ATOMIC(p)                                                   \
    _Generic((p),                                                       \
        uint32_t *: (_Atomic uint32_t *)(void *)(p),                    \
        int32_t *: (_Atomic int32_t *)(void *)(p),                      \
        uint64_t *: (_Atomic uint64_t *)(void *)(p),                    \
        int64_t *: (_Atomic int64_t *)(void *)(p),                      \
        const uint32_t *: (const _Atomic uint32_t *)(const void *)(p),  \
        const int32_t *: (const _Atomic int32_t *)(const void *)(p),    \
        const uint64_t *: (const _Atomic uint64_t *)(const void *)(p),  \
        const int64_t *: (const _Atomic int64_t *)(const void *)(p))

/* The orders the inter-process objects use most, on plain fields. */
#define MP__LOAD(p) atomic_load_explicit(MP__ATOMIC(p), memory_order_acquire)
#define MP__LOAD_RELAXED(p) atomic_load_explicit(MP__ATOMIC(p), memory_order_relaxed)
#define MP__STORE(p, v) atomic_store_explicit(MP__ATOMIC(p), (v), memory_order_release)
#define MP__STORE_RELAXED(p, v) atomic_store_explicit(MP__ATOMIC(p), (v), memory_order_relaxed)
#define MP__CAS(p, expected, desired) \
    atomic_compare_exchange_strong_explicit(MP__ATOMIC(p), (expected), (desired), memory_order_acq_rel, memory_order_relaxed)

#endif
