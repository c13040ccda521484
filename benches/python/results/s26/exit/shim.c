#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
void pthread_exit(void *r) {
    void *buf[64];
    int n = backtrace(buf, 64);
    char hdr[64];
    int l = snprintf(hdr, sizeof hdr, "=== pthread_exit tid %d\n", (int)gettid());
    write(2, hdr, l);
    backtrace_symbols_fd(buf, n, 2);
    void (*real)(void *) = (void (*)(void *))dlsym(RTLD_NEXT, "pthread_exit");
    real(r);
    __builtin_unreachable();
}
