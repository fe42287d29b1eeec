/* Round-trip latency reference.
 *
 *   pingpong ping TYPE SIZE WARM_MS MEAS_MS
 *   pingpong echo TYPE SIZE
 *
 * The pinger sends SIZE bytes and waits for the echo, over and over: WARM_MS
 * of warm-up, then MEAS_MS timed with one clock reading per round trip. It
 * prints the mean, median and 99th percentile in microseconds, then sends the
 * end marker (a 1-byte message; EOF on a stream). Blocking sockets. */
#include "common.h"

static int type, size;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int recv_full(char *buf) {
  /* A stream may deliver the echo in pieces. */
  size_t got = 0;
  do {
    ssize_t r = recv(SOCK_FD, buf + got, size - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  } while (type == SOCK_STREAM && got < (size_t)size);
  return 0;
}

static int do_ping(double warm, double meas) {
  char *buf = malloc(size), *in = malloc(size);
  memset(buf, 'p', size);
  size_t cap = 1 << 22, n = 0;
  double *rtt = malloc(cap * sizeof *rtt);
  double start = now_s(), t0 = 0, prev = start;
  int measuring = 0;
  for (;;) {
    if (send(SOCK_FD, buf, size, MSG_NOSIGNAL) != size) die("send");
    if (recv_full(in) < 0) die("recv");
    double t = now_s();
    if (measuring) {
      if (n < cap) rtt[n++] = t - prev;
      if (t - t0 >= meas) break;
    } else if (t - start >= warm) {
      measuring = 1;
      t0 = t;
      char line[128];
      snprintf(line, sizeof line, "{\"role\":\"ping\",\"event\":\"window\",\"pid\":%d}", (int)getpid());
      out(line);
    }
    prev = t;
  }
  double total = prev - t0;
  qsort(rtt, n, sizeof *rtt, cmp_double);
  char line[256];
  snprintf(line, sizeof line,
           "{\"role\":\"ping\",\"event\":\"measured\",\"rtts\":%zu,\"seconds\":%.6f,\"mean_us\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f}",
           n, total, total / n * 1e6, rtt[n / 2] * 1e6, rtt[(size_t)(n * 0.99)] * 1e6);
  out(line);
  if (type == SOCK_STREAM) shutdown(SOCK_FD, SHUT_WR);
  else send(SOCK_FD, "E", 1, MSG_NOSIGNAL);
  close(SOCK_FD);
  return 0;
}

static int do_echo(void) {
  char *buf = malloc(65536 > size ? 65536 : size);
  out("{\"role\":\"echo\",\"event\":\"ready\"}");
  for (;;) {
    ssize_t r = recv(SOCK_FD, buf, 65536 > size ? 65536 : size, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (type != SOCK_STREAM && r == 1) break;
    if (send(SOCK_FD, buf, r, MSG_NOSIGNAL) != r) break;
  }
  out("{\"role\":\"echo\",\"event\":\"done\"}");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s ping|echo TYPE SIZE [WARM_MS MEAS_MS]\n", argv[0]);
    return 2;
  }
  type = parse_type(argv[2]);
  size = atoi(argv[3]);
  if (size < 2) return 2;
  make_blocking(SOCK_FD);
  if (strcmp(argv[1], "ping") == 0 && argc >= 6) return do_ping(atoi(argv[4]) / 1000.0, atoi(argv[5]) / 1000.0);
  if (strcmp(argv[1], "echo") == 0) return do_echo();
  return 2;
}
