/* Shared by the C reference programs of the benchmark (the .c files beside it).
 *
 * Every program talks over fd 3, one end of a socketpair(2) created by the
 * harness (bench/run.js) and inherited by two separate processes, exactly as
 * the Node workloads get theirs. Results go to stdout as one JSON object per
 * line, in the same shape the Node programs print (bench/node/common.js). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SOCK_FD 3

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline int parse_type(const char *s) {
  if (strcmp(s, "stream") == 0) return SOCK_STREAM;
  if (strcmp(s, "seqpacket") == 0) return SOCK_SEQPACKET;
  if (strcmp(s, "dgram") == 0) return SOCK_DGRAM;
  fprintf(stderr, "unknown socket type %s\n", s);
  exit(2);
}

/* The harness's socketpair is non-blocking (SOCK_NONBLOCK, as the library
 * creates it); the C loops are plain blocking loops. */
static inline void make_blocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    perror("fcntl");
    exit(1);
  }
}

static inline void die(const char *what) {
  perror(what);
  exit(1);
}

static volatile sig_atomic_t stop_requested = 0;
static void on_stop(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* SIGUSR2 asks a sender to stop. No SA_RESTART: a blocked sendmsg returns
 * EINTR so the loop sees the flag. */
static inline void install_stop_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL);
}

static inline void out(const char *line) {
  fputs(line, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}
