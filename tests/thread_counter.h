/* thread_counter.h — counts the threads a test program starts: pthread_create
 * interposed (the library's threads, linked into the program, and OpenBLAS'
 * resolve to this one). Include it in one file of the program. */
#ifndef CIRCUITC_TESTS_THREAD_COUNTER_H
#define CIRCUITC_TESTS_THREAD_COUNTER_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

static atomic_int threads_started;

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
    atomic_fetch_add(&threads_started, 1);
    return real(t, attr, fn, arg);
}

#endif
