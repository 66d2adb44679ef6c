/* A process for the attach tests to probe.
 *
 *   attach_target calls N A B   prints "ready", waits for a line on stdin, then
 *                               calls ebpfrun_target_add(A + i, B) for i < N, each
 *                               call preceded by the USDT probe ebpfrun_test:tick(A + i, B)
 *   attach_target busy MS       prints "ready", waits for a line, then spins for MS ms
 *
 * Built with -O0 -fno-inline so the probed function exists as a real call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <time.h>

volatile long ebpfrun_target_sink;

__attribute__((noinline)) long ebpfrun_target_add(long a, long b) { return a * 1000 + b; }

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void wait_for_go(void) {
  char line[16];
  printf("ready\n");
  fflush(stdout);
  if (!fgets(line, sizeof line, stdin)) exit(3);
}

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "calls") == 0) {
    long n = atol(argv[2]), a = atol(argv[3]), b = atol(argv[4]);
    wait_for_go();
    for (long i = 0; i < n; ++i) {
      long x = a + i;
      DTRACE_PROBE2(ebpfrun_test, tick, x, b);
      ebpfrun_target_sink += ebpfrun_target_add(x, b);
    }
    printf("%ld\n", (long)ebpfrun_target_sink);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "busy") == 0) {
    double until;
    wait_for_go();
    until = now_ms() + atof(argv[2]);
    while (now_ms() < until) ebpfrun_target_sink++;
    return 0;
  }
  fprintf(stderr, "usage: attach_target calls N A B | busy MS\n");
  return 2;
}
