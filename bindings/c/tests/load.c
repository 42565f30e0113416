/* Load through the C ABI: THREADS threads each doing LOOKUPS exact-id lookups
 * (se_engine_get_secrets) against one shared engine, every answer checked (status,
 * one envelope, the right provider, the right bytes), every lookup timed with
 * clock_gettime(CLOCK_MONOTONIC).
 *
 *   load [STORE [THREADS [LOOKUPS]]]
 *
 * STORE is memory (SE_STORE_MEMORY) or keychain (SE_STORE_KEYCHAIN, the Secret
 * Service on DBUS_SESSION_BUS_ADDRESS); defaults come from SE_LOAD_STORE,
 * SE_LOAD_THREADS and SE_LOAD_LOOKUPS, else memory, 64 and 10000. Prints one line
 *
 *   load store=S threads=T lookups=N errors=E wall_s=W rate_per_s=R p50_us=.. p99_us=.. max_us=..
 *
 * and exits 1 when any lookup failed. The seeded secrets are removed at the end, so a
 * shared test keyring is left as it was found. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include "harness.h"

/* Distinct ids, looked up round-robin so threads contend on the same entries. */
#define KEYS 64
#define MAX_THREADS 1024
/* First few failures are printed in full; the rest are only counted. */
#define MAX_REPORTED 5

static se_engine *engine;
static const char *provider;
static long lookups_per_thread;
static uint64_t *latencies_ns; /* threads * lookups_per_thread */
static long errors[MAX_THREADS];
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static int reported;

static void key_id(int k, char *buf, size_t n) { snprintf(buf, n, "cload/k%02d", k); }
static void key_value(int k, char *buf, size_t n) { snprintf(buf, n, "load-value-%02d", k); }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void report(int t, long i, const char *what) {
  pthread_mutex_lock(&report_lock);
  if (reported++ < MAX_REPORTED) fprintf(stderr, "load: thread %d lookup %ld: %s\n", t, i, what);
  pthread_mutex_unlock(&report_lock);
}

static void *worker(void *arg) {
  int t = (int)(intptr_t)arg;
  uint64_t *lat = latencies_ns + (size_t)t * (size_t)lookups_per_thread;
  char id[32], want[32], msg[1200];
  for (long i = 0; i < lookups_per_thread; i++) {
    int k = (int)((t + i) % KEYS);
    key_id(k, id, sizeof id);
    key_value(k, want, sizeof want);
    se_envelope_list *list = NULL;
    uint64_t start = now_ns();
    se_status s = se_engine_get_secrets(engine, id, &list);
    lat[i] = now_ns() - start;
    if (s != SE_STATUS_OK) {
      errors[t]++;
      snprintf(msg, sizeof msg, "%s: status %d (%s): %s", id, (int)s, se_status_str((uint32_t)s), last_error());
      report(t, i, msg);
      continue;
    }
    const se_envelope *e = se_envelope_list_get(list, 0);
    const uint8_t *p = NULL;
    size_t n = 0;
    se_envelope_value(e, &p, &n);
    if (se_envelope_list_len(list) != 1 || se_envelope_list_failures_len(list) != 0 ||
        strcmp(se_envelope_id(e), id) != 0 || strcmp(se_envelope_provider(e), provider) != 0 ||
        n != strlen(want) || memcmp(p, want, n) != 0) {
      errors[t]++;
      snprintf(msg, sizeof msg, "%s: wrong answer (%zu envelopes, %zu failures)", id, se_envelope_list_len(list),
               se_envelope_list_failures_len(list));
      report(t, i, msg);
    }
    se_envelope_list_free(list);
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static long parse_count(const char *arg, const char *env, long fallback, long max) {
  const char *s = arg ? arg : getenv(env);
  if (s == NULL || *s == '\0') return fallback;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < 1 || v > max) {
    fprintf(stderr, "load: %s must be a number from 1 to %ld, not %s\n", env, max, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  const char *store = argc > 1 ? argv[1] : getenv("SE_LOAD_STORE");
  if (store == NULL || *store == '\0') store = "memory";
  long threads = parse_count(argc > 2 ? argv[2] : NULL, "SE_LOAD_THREADS", 64, MAX_THREADS);
  lookups_per_thread = parse_count(argc > 3 ? argv[3] : NULL, "SE_LOAD_LOOKUPS", 10000, 10000000);

  se_engine_options o;
  memset(&o, 0, sizeof o);
  o.no_config = true;
  if (strcmp(store, "memory") == 0) {
    o.store = SE_STORE_MEMORY;
    provider = "memory";
  } else if (strcmp(store, "keychain") == 0) {
    if (getenv("DBUS_SESSION_BUS_ADDRESS") == NULL) {
      fprintf(stderr, "load: the keychain needs DBUS_SESSION_BUS_ADDRESS (scripts/test-c and scripts/soak set it)\n");
      return 2;
    }
    o.store = SE_STORE_KEYCHAIN;
    provider = "docker-pass";
  } else {
    fprintf(stderr, "usage: load [memory|keychain [THREADS [LOOKUPS]]]\n");
    return 2;
  }
  if (se_engine_new(&o, &engine) != SE_STATUS_OK) {
    fprintf(stderr, "load: cannot create the %s engine: %s\n", store, last_error());
    return 1;
  }
  for (int k = 0; k < KEYS; k++) {
    char id[32], value[32];
    key_id(k, id, sizeof id);
    key_value(k, value, sizeof value);
    if (se_engine_set_secret(engine, id, (const uint8_t *)value, strlen(value)) != SE_STATUS_OK) {
      fprintf(stderr, "load: cannot seed %s: %s\n", id, last_error());
      se_engine_free(engine);
      return 1;
    }
  }

  size_t total = (size_t)threads * (size_t)lookups_per_thread;
  latencies_ns = calloc(total, sizeof *latencies_ns);
  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  if (latencies_ns == NULL || tids == NULL) {
    fprintf(stderr, "load: out of memory for %zu latencies\n", total);
    return 1;
  }
  uint64_t start = now_ns();
  for (long t = 0; t < threads; t++) {
    if (pthread_create(&tids[t], NULL, worker, (void *)(intptr_t)t) != 0) {
      fprintf(stderr, "load: cannot start thread %ld\n", t);
      return 1;
    }
  }
  for (long t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  double wall = (double)(now_ns() - start) / 1e9;

  long errs = 0;
  for (long t = 0; t < threads; t++) errs += errors[t];
  /* Removing what was seeded is part of the run: a failure here is an error too. */
  for (int k = 0; k < KEYS; k++) {
    char id[32];
    key_id(k, id, sizeof id);
    if (se_engine_remove_secret(engine, id) != SE_STATUS_OK) {
      fprintf(stderr, "load: cannot remove %s: %s\n", id, last_error());
      errs++;
    }
  }
  se_engine_free(engine);

  qsort(latencies_ns, total, sizeof *latencies_ns, cmp_u64);
  /* Nearest-rank percentiles. */
  size_t i50 = (total * 50 + 99) / 100 - 1, i99 = (total * 99 + 99) / 100 - 1;
  printf("load store=%s threads=%ld lookups=%zu errors=%ld wall_s=%.2f rate_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f\n",
         store, threads, total, errs, wall, (double)total / wall, (double)latencies_ns[i50] / 1e3,
         (double)latencies_ns[i99] / 1e3, (double)latencies_ns[total - 1] / 1e3);
  free(latencies_ns);
  free(tids);
  return errs == 0 ? 0 : 1;
}
