/* Session 46: what fresh anonymous memory costs on this host (docs/performance.md,
 * "Session 46"): 32 MiB mapped, written 8 bytes apart, unmapped, best of 10,
 * with 4 KiB pages faulted as written, with transparent huge pages
 * (MADV_HUGEPAGE on a 2 MiB-aligned range), and populated 16 KiB at a time
 * (MADV_POPULATE_WRITE, as segment/block.rs does); then the same writes to
 * memory already resident. Thread CPU time.
 *
 *     gcc -O2 -o fresh_memory fresh_memory.c && ./fresh_memory
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdint.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
static double cpu(){struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec*1e9+t.tv_nsec;}
int main(int argc,char**argv){
  size_t sz = 32<<20; int reps=10;
  for (int mode=0; mode<3; mode++){
    double best=1e18;
    for(int r=0;r<reps;r++){
      double t0=cpu();
      char*p=mmap(0,sz+(2<<20),PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
      char*a=(char*)(((uintptr_t)p+(2<<20)-1)&~((uintptr_t)(2<<20)-1));
      if(mode==1) madvise(a,sz,MADV_HUGEPAGE);
      if(mode==2){ for(size_t o=0;o<sz;o+=16384) madvise(a+o,16384,MADV_POPULATE_WRITE);}
      for(size_t o=0;o<sz;o+=8) *(volatile uint64_t*)(a+o)=o;
      munmap(p,sz+(2<<20));
      double t1=cpu(); if(t1-t0<best)best=t1-t0;
    }
    printf("%s: %.1f us for 32 MiB written+unmapped (%.2f ns/byte)\n", mode==0?"4K faults":mode==1?"THP":"4K populate16K", best/1e3, best/sz);
  }
  // baseline: memory already resident (write only)
  char*p=mmap(0,sz,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); memset(p,1,sz);
  double best=1e18; for(int r=0;r<reps;r++){double t0=cpu(); for(size_t o=0;o<sz;o+=8) *(volatile uint64_t*)(p+o)=o; double t1=cpu(); if(t1-t0<best)best=t1-t0;}
  printf("resident: %.1f us (%.2f ns/byte)\n", best/1e3, best/sz);
}
