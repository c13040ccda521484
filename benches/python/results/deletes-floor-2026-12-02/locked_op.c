#include <stdio.h>
#include <time.h>
#include <stdint.h>
static double now(){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec*1e9+t.tv_nsec;}
volatile uint64_t x[64];
int main(){ long n=100000000; double t0=now();
for(long i=0;i<n;i++){ __atomic_fetch_add(&x[0],1,__ATOMIC_SEQ_CST);} double t1=now();
for(long i=0;i<n;i++){ x[8]=x[8]+1;} double t2=now();
for(long i=0;i<n;i++){ __atomic_fetch_add(&x[0],1,__ATOMIC_SEQ_CST); __atomic_fetch_add(&x[16],1,__ATOMIC_SEQ_CST); __atomic_fetch_add(&x[24],1,__ATOMIC_SEQ_CST); __atomic_fetch_add(&x[32],1,__ATOMIC_SEQ_CST);} double t3=now();
printf("locked %.2f ns, plain %.2f ns, 4 independent locked %.2f ns\n",(t1-t0)/n,(t2-t1)/n,(t3-t2)/n);}
