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
 *   workload udp PORT K          K 16-byte UDP datagrams to 127.0.0.1:PORT from one socket
 *   workload backlog PORT MS     listen on 127.0.0.1:PORT with backlog 0, fill the accept queue
 *                                with one connection, start a second connect (its SYNs are
 *                                dropped and retransmitted), wait MS ms, close everything
 *   workload listen PORT K       echo server on 127.0.0.1:PORT: K connections in turn, each
 *                                echoed back until EOF
 *   workload send PORT BYTES     connect to 127.0.0.1:PORT (retrying while refused, up to
 *                                5 s), send BYTES in 4 KiB writes, reading each chunk back and
 *                                checking it; exit 1 on a mismatch
 *   workload thread_exec PATH [ARG...]   a second thread execs PATH with argv PATH ARG...
 *   workload execveat PATH [ARG...]      execveat(AT_FDCWD, PATH) with argv PATH ARG...
 *   workload cpu MS              spin until the process has used MS ms of CPU time
 *   workload naps N MS           N sleeps of MS milliseconds each (N voluntary switches)
 *   workload listen6 PORT K      the listen echo server on [::1]:PORT
 *   workload send6 PORT BYTES    the send client to [::1]:PORT (BYTES may be 0: connect, close)
 *   workload udploop PORT K      bind a UDP socket to 127.0.0.1:PORT; K times, send a 16-byte
 *                                datagram to it from a second (unconnected) socket with sendto()
 *                                and receive it with recvfrom()
 *   workload churn N             N short-lived child processes, one after the other; each makes
 *                                a getpid(), writes 1 byte to /dev/null, touches a fresh page,
 *                                sends a 16-byte UDP datagram to 127.0.0.1:9, listens on a TCP
 *                                socket (an ephemeral port) and closes it, and exits: one new
 *                                entry per process in every collector's per-process map
 * Prints its pid on stdout first. With WORKLOAD_LINGER_MS set, a run that succeeded
 * sleeps that long before exiting (so that an agent reading its counters every
 * second sees them before the process exits and its entries are evicted). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct sockaddr_in loopback(long port) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

static int write_all(int fd, const char *p, long len) {
  while (len > 0) {
    long w = write(fd, p, len);
    if (w <= 0) return -1;
    p += w;
    len -= w;
  }
  return 0;
}

static int read_all(int fd, char *p, long len) {
  while (len > 0) {
    long r = read(fd, p, len);
    if (r <= 0) return -1;
    p += r;
    len -= r;
  }
  return 0;
}

/* One churn child: something for each collector to count, then exit. */
static void churn_child(void) {
  syscall(SYS_getpid);
  int null = open("/dev/null", O_WRONLY);
  if (null >= 0) {
    if (write(null, "x", 1) != 1) _exit(1);
    close(null);
  }
  long page = sysconf(_SC_PAGESIZE);
  char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED) p[0] = 1;
  struct sockaddr_in discard = loopback(9);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  char payload[16] = "workload churn";
  sendto(u, payload, sizeof payload, 0, (struct sockaddr *)&discard, sizeof discard);
  close(u);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  listen(l, 1);
  close(l);
  _exit(0);
}

static char **thread_exec_argv;
static void *exec_from_thread(void *unused) {
  (void)unused;
  execv(thread_exec_argv[0], thread_exec_argv);
  _exit(127);
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
    /* One fault per page also where transparent huge pages are "always"
     * (Debian's kernels; this host has "madvise"): a huge page would take
     * 512 pages in one fault. */
    madvise(p, n * page, MADV_NOHUGEPAGE);
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
  } else if (!strcmp(mode, "udp") && argc > 3) {
    long k = atol(argv[3]);
    struct sockaddr_in addr = loopback(n);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    char payload[16] = "workload udp";
    for (long i = 0; i < k; i++)
      if (sendto(s, payload, sizeof payload, 0, (struct sockaddr *)&addr, sizeof addr) != sizeof payload) return 1;
    close(s);
  } else if (!strcmp(mode, "backlog") && argc > 3) {
    struct sockaddr_in addr = loopback(n);
    int one = 1;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(l, 0) != 0) return 1;
    int first = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(first, (struct sockaddr *)&addr, sizeof addr) != 0) return 1;
    int second = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(second, (struct sockaddr *)&addr, sizeof addr) == 0 || errno != EINPROGRESS) return 1;
    usleep(atol(argv[3]) * 1000);
    close(second);
    close(first);
    close(l);
  } else if (!strcmp(mode, "listen") && argc > 3) {
    struct sockaddr_in addr = loopback(n);
    int one = 1;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(l, 16) != 0) return 1;
    static char buf[65536];
    for (long i = 0, k = atol(argv[3]); i < k; i++) {
      int c = accept(l, NULL, NULL);
      if (c < 0) return 1;
      for (long r; (r = read(c, buf, sizeof buf)) > 0;)
        if (write_all(c, buf, r) != 0) return 1;
      close(c);
    }
    close(l);
  } else if (!strcmp(mode, "send") && argc > 3) {
    struct sockaddr_in addr = loopback(n);
    long bytes = atol(argv[3]);
    int s = -1;
    for (int tries = 0; tries < 500; tries++) {
      s = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(s, (struct sockaddr *)&addr, sizeof addr) == 0) break;
      close(s);
      s = -1;
      if (errno != ECONNREFUSED) return 1;
      usleep(10000);
    }
    if (s < 0) return 1;
    static char out[4096], back[4096];
    for (long sent = 0; sent < bytes;) {
      long chunk = bytes - sent < (long)sizeof out ? bytes - sent : (long)sizeof out;
      for (long j = 0; j < chunk; j++) out[j] = (char)((sent + j) * 131 + 7);
      if (write_all(s, out, chunk) != 0 || read_all(s, back, chunk) != 0) return 1;
      if (memcmp(out, back, chunk) != 0) {
        fprintf(stderr, "workload: echoed data differs at byte %ld\n", sent);
        return 1;
      }
      sent += chunk;
    }
    close(s);
  } else if (!strcmp(mode, "execveat")) {
    extern char **environ;
    syscall(SYS_execveat, AT_FDCWD, argv[2], argv + 2, environ, 0);
    return 127;
  } else if (!strcmp(mode, "thread_exec")) {
    thread_exec_argv = argv + 2;
    pthread_t thread;
    if (pthread_create(&thread, NULL, exec_from_thread, NULL) != 0) return 1;
    pthread_join(thread, NULL);
    return 1;
  } else if (!strcmp(mode, "cpu")) {
    /* Runs until the process has had MS ms of CPU time, however long that
     * takes on a busy machine: ground truth for on-CPU time. */
    volatile unsigned long x = 0;
    struct timespec ts;
    do {
      for (int i = 0; i < 10000; i++) x++;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    } while (ts.tv_sec * 1e3 + ts.tv_nsec / 1e6 < n);
  } else if (!strcmp(mode, "naps") && argc > 3) {
    struct timespec nap = {.tv_sec = atol(argv[3]) / 1000, .tv_nsec = atol(argv[3]) % 1000 * 1000000L};
    for (long i = 0; i < n; i++) nanosleep(&nap, NULL);
  } else if ((!strcmp(mode, "listen6") || !strcmp(mode, "send6")) && argc > 3) {
    struct sockaddr_in6 addr = {.sin6_family = AF_INET6, .sin6_port = htons((unsigned short)n)};
    addr.sin6_addr = in6addr_loopback;
    static char buf[65536], back[4096];
    if (!strcmp(mode, "listen6")) {
      int one = 1, l = socket(AF_INET6, SOCK_STREAM, 0);
      setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(l, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(l, 16) != 0) return 1;
      for (long i = 0, k = atol(argv[3]); i < k; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0) return 1;
        for (long r; (r = read(c, buf, sizeof buf)) > 0;)
          if (write_all(c, buf, r) != 0) return 1;
        close(c);
      }
      close(l);
      return 0;
    }
    int s = -1;
    for (int tries = 0; tries < 500 && s < 0; tries++) {
      s = socket(AF_INET6, SOCK_STREAM, 0);
      if (connect(s, (struct sockaddr *)&addr, sizeof addr) == 0) break;
      close(s);
      s = -1;
      if (errno != ECONNREFUSED) return 1;
      usleep(10000);
    }
    if (s < 0) return 1;
    memset(buf, 'x', sizeof back);
    for (long left = atol(argv[3]); left > 0;) {
      long chunk = left < (long)sizeof back ? left : (long)sizeof back;
      if (write_all(s, buf, chunk) != 0 || read_all(s, back, chunk) != 0) return 1;
      left -= chunk;
    }
    close(s);
  } else if (!strcmp(mode, "udploop") && argc > 3) {
    struct sockaddr_in addr = loopback(n), from;
    int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind(r, (struct sockaddr *)&addr, sizeof addr) != 0) return 1;
    char payload[16] = "workload udp", in[64];
    for (long i = 0, k = atol(argv[3]); i < k; i++) {
      socklen_t len = sizeof from;
      if (sendto(s, payload, sizeof payload, 0, (struct sockaddr *)&addr, sizeof addr) != sizeof payload ||
          recvfrom(r, in, sizeof in, 0, (struct sockaddr *)&from, &len) != sizeof payload)
        return 1;
    }
    close(s);
    close(r);
  } else if (!strcmp(mode, "churn")) {
    for (long i = 0; i < n; i++) {
      pid_t child = fork();
      if (child < 0) return 1;
      if (child == 0) churn_child();
      int status;
      if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    }
  } else {
    fprintf(stderr, "workload: unknown mode %s\n", mode);
    return 2;
  }
  const char *linger = getenv("WORKLOAD_LINGER_MS");
  if (linger && atol(linger) > 0) usleep((useconds_t)(atol(linger) * 1000));
  return 0;
}
