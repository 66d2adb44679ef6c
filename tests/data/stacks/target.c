// A process with known functions for the symbolization tests. Without
// arguments it prints two addresses, then spins in spin_here() until killed:
//   - the address of spin_here itself;
//   - an address inside inlined_step(), which the compiler inlines into
//     spin_here (the return address of the call to leaf(), minus one, as an
//     unwinder would report it).
// `opens N [LINGER_MS]` opens /dev/null N times from open_here() (called by
// open_outer()), and `naps N MS [LINGER_MS]` sleeps N times MS milliseconds in
// nap_here() (called by nap_outer()), for the stack-keyed one-liners,
// stackcount and offcputime. LINGER_MS keeps the process alive that long
// afterwards (in linger()), so that a tool that symbolizes when it ends
// still finds the process's mappings.
// Both make the system call with the syscall instruction inside the named
// function: through a libc wrapper, which keeps no frame pointer, a
// frame-pointer unwinder would skip the wrapper's caller, the very function
// the tests look for.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile uintptr_t return_address;
static volatile unsigned long counter;

__attribute__((noinline)) void leaf(void) { return_address = (uintptr_t)__builtin_return_address(0); }

static inline __attribute__((always_inline)) void inlined_step(void) {
  leaf();
  counter++;
}

__attribute__((noinline)) void spin_here(void) {
  inlined_step();
  printf("%p %p\n", (void*)spin_here, (void*)(return_address - 1));
  fflush(stdout);
  for (;;) counter++;
}

__attribute__((noinline)) void stacks_outer(void) { spin_here(); }

#if defined(__x86_64__)
static long raw_syscall4(long nr, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
}
#define RAW_SYSCALL4 raw_syscall4
#else
#define RAW_SYSCALL4 syscall
#endif

// always_inline puts the syscall instruction into the noinline callers.
static inline __attribute__((always_inline)) long syscall_here(long nr, long a, long b, long c, long d) {
  return RAW_SYSCALL4(nr, a, b, c, d);
}

__attribute__((noinline)) void open_here(void) {
  long fd = syscall_here(SYS_openat, AT_FDCWD, (long)"/dev/null", O_RDONLY, 0);
  if (fd >= 0) close((int)fd);
  counter++;
}

__attribute__((noinline)) void open_outer(int n) {
  for (int i = 0; i < n; i++) open_here();
  counter++;
}

__attribute__((noinline)) void nap_here(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  syscall_here(SYS_nanosleep, (long)&ts, 0, 0, 0);
  counter++;
}

__attribute__((noinline)) void nap_outer(int n, long ms) {
  for (int i = 0; i < n; i++) nap_here(ms);
  counter++;
}

__attribute__((noinline)) void linger(long ms) {
  if (ms > 0) usleep((useconds_t)(ms * 1000));
}

int main(int argc, char** argv) {
  if ((argc == 3 || argc == 4) && strcmp(argv[1], "opens") == 0) {
    open_outer(atoi(argv[2]));
    linger(argc == 4 ? atol(argv[3]) : 0);
    return 0;
  }
  if ((argc == 4 || argc == 5) && strcmp(argv[1], "naps") == 0) {
    nap_outer(atoi(argv[2]), atol(argv[3]));
    linger(argc == 5 ? atol(argv[4]) : 0);
    return 0;
  }
  stacks_outer();
  return 0;
}
