/* bench/events/producer.c — the event source for bench/events.sh.
 *
 * Usage: producer N
 * Prints "ready" once SIGUSR1 is blocked, then waits for SIGUSR1 (so that a
 * tracer can attach first), then calls
 * getppid() N times in a tight loop (through syscall(2), so that no libc cache
 * can skip the kernel) and prints, on one line:
 *   <loop start ns> <loop end ns> <calls>
 * with CLOCK_REALTIME times, comparable with `date +%s%N` and with the tracer's
 * own clock readings. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s N\n", argv[0]);
    return 2;
  }
  long n = strtol(argv[1], NULL, 10);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  printf("ready\n");
  fflush(stdout);
  int sig;
  if (sigwait(&set, &sig) != 0) return 1;
  long long start = now_ns();
  for (long i = 0; i < n; i++) syscall(SYS_getppid);
  long long end = now_ns();
  printf("%lld %lld %ld\n", start, end, n);
  return 0;
}
