/* A workload with exactly known effects, for the collectors' ground-truth
 * tests. Built static so that no dynamic loader adds system calls of its own.
 *   workload openat N PATH       N openat() calls of PATH
 *   workload write BYTES PATH    write exactly BYTES bytes to PATH (4 KiB writes)
 *   workload read BYTES PATH     read exactly BYTES bytes from PATH
 *   workload faults PAGES        touch PAGES fresh anonymous pages
 *   workload busy MS             spin on the CPU for MS milliseconds
 *   workload sleep MS            sleep for MS milliseconds
 *   workload connect PORT K      K TCP connects to 127.0.0.1:PORT, each closed at once
 *   workload unlink PATH         create and unlink PATH
 * Prints its pid on stdout first. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: workload MODE ARGS...\n");
    return 2;
  }
  printf("%d\n", getpid());
  fflush(stdout);
  const char *mode = argv[1];
  long n = atol(argv[2]);
  if (!strcmp(mode, "openat") && argc > 3) {
    for (long i = 0; i < n; i++) {
      int fd = openat(AT_FDCWD, argv[3], O_RDONLY);
      if (fd >= 0) close(fd);
    }
  } else if (!strcmp(mode, "write") && argc > 3) {
    int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    static char buf[4096];
    memset(buf, 'x', sizeof buf);
    for (long left = n; left > 0;) {
      long chunk = left < (long)sizeof buf ? left : (long)sizeof buf;
      long w = write(fd, buf, chunk);
      if (w <= 0) return 1;
      left -= w;
    }
    close(fd);
  } else if (!strcmp(mode, "read") && argc > 3) {
    int fd = open(argv[3], O_RDONLY);
    static char buf[4096];
    for (long left = n; left > 0;) {
      long r = read(fd, buf, left < (long)sizeof buf ? left : (long)sizeof buf);
      if (r <= 0) return 1;
      left -= r;
    }
    close(fd);
  } else if (!strcmp(mode, "faults")) {
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (long i = 0; i < n; i++) p[i * page] = 1;
    munmap(p, n * page);
  } else if (!strcmp(mode, "busy")) {
    volatile unsigned long x = 0;
    double end = now_ms() + n;
    while (now_ms() < end) x++;
  } else if (!strcmp(mode, "sleep")) {
    usleep(n * 1000);
  } else if (!strcmp(mode, "connect") && argc > 3) {
    long k = atol(argv[3]);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)n)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (long i = 0; i < k; i++) {
      int s = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) return 1;
      close(s);
    }
  } else if (!strcmp(mode, "unlink")) {
    int fd = open(argv[2], O_WRONLY | O_CREAT, 0600);
    close(fd);
    unlink(argv[2]);
  } else {
    fprintf(stderr, "workload: unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
