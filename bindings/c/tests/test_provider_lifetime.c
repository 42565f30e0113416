/* A C provider's userdata outlives every callback: a callback abandoned at its
 * deadline still runs after se_engine_free returned, and free_userdata runs after
 * it, once, on that callback's thread. Also: a C provider called from many threads,
 * and a timeout's status.
 *
 * The order is checked through a mutex and a condition variable, not sleeps: the
 * callback stays inside until the main thread releases it, after se_engine_free
 * returned, and the flags it and free_userdata record are read under the mutex. The
 * flags live outside the userdata, which free_userdata frees. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "harness.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
/* Guarded by mu. */
static int in_callback, go_on, finished, freed, freed_while_running;
static pthread_t callback_thread, free_thread;

typedef struct {
  int payload[64]; /* written after the deadline: ASan sees any use after free */
} slow_state;

/* Waits on cv until *flag is set or 10 s pass (a broken ordering fails, it does not
 * hang); mu is held. Returns the flag. */
static int wait_for(int *flag) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  int rc = 0;
  while (!*flag && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&cv, &mu, &until);
  return *flag;
}

static int slow(void *userdata, const char *pattern, se_results *results) {
  (void)pattern;
  (void)results;
  slow_state *s = userdata;
  pthread_mutex_lock(&mu);
  in_callback = 1;
  callback_thread = pthread_self();
  pthread_cond_broadcast(&cv);
  /* Past the 100 ms deadline, and past se_engine_free. */
  wait_for(&go_on);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < 64; i++) s->payload[i] = i;
  pthread_mutex_lock(&mu);
  finished = 1;
  pthread_mutex_unlock(&mu);
  return 0;
}

static void release_slow(void *userdata) {
  pthread_mutex_lock(&mu);
  if (!finished) freed_while_running = 1;
  freed++;
  free_thread = pthread_self();
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  /* The state is heap memory the engine owns from registration: free it here. */
  free(userdata);
}

static int counter(void *userdata, const char *pattern, se_results *results) {
  atomic_fetch_add((atomic_int *)userdata, 1);
  if (se_pattern_matches(pattern, "mt/x")) se_results_add(results, "mt/x", (const uint8_t *)"v", 1);
  return 0;
}

static se_engine *mt_engine;
static atomic_int mt_failures;
static void *lookup_many(void *arg) {
  (void)arg;
  for (int i = 0; i < 300; i++) {
    se_envelope_list *l = NULL;
    if (se_engine_get_secrets(mt_engine, "mt/x", &l) == SE_STATUS_OK && se_envelope_list_len(l) == 1) {
      se_envelope_list_free(l);
    } else {
      atomic_fetch_add(&mt_failures, 1);
    }
  }
  return NULL;
}

int main(void) {
  /* 1. Deadline, then free while the callback still runs. */
  se_engine_options o;
  memset(&o, 0, sizeof o);
  o.store = SE_STORE_MEMORY;
  o.no_config = true;
  o.deadline_ms = 100;
  se_engine *e = NULL;
  CHECK_OK(se_engine_new(&o, &e));
  slow_state *s = calloc(1, sizeof *s);
  se_provider_callbacks cb = {slow, release_slow};
  CHECK_OK(se_engine_register_provider(e, "slow", "slow/**", &cb, s));
  se_envelope_list *list = NULL;
  CHECK_STATUS(se_engine_get_secrets(e, "slow/x", &list), SE_STATUS_TIMEOUT);
  CHECK(strstr(last_error(), "slow") != NULL);
  pthread_mutex_lock(&mu);
  CHECK(wait_for(&in_callback));
  CHECK(finished == 0);
  pthread_mutex_unlock(&mu);

  /* The callback is held: free cannot release its userdata yet. */
  se_engine_free(e);
  pthread_mutex_lock(&mu);
  CHECK(freed == 0);
  CHECK(finished == 0);
  go_on = 1;
  pthread_cond_broadcast(&cv);
  /* Once the callback returns, free_userdata runs, on the callback's thread. */
  CHECK(wait_for(&freed));
  CHECK(finished == 1);
  CHECK(freed_while_running == 0);
  CHECK(freed == 1);
  CHECK(pthread_equal(free_thread, callback_thread));
  pthread_mutex_unlock(&mu);

  /* 2. A C provider from 8 threads at once. */
  atomic_int calls = 0;
  mt_engine = memory_engine();
  se_provider_callbacks ccb = {counter, NULL};
  CHECK_OK(se_engine_register_provider(mt_engine, "counter", "mt/**", &ccb, &calls));
  pthread_t t[8];
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, lookup_many, NULL);
  for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
  CHECK(atomic_load(&mt_failures) == 0);
  CHECK(atomic_load(&calls) == 8 * 300);
  se_engine_free(mt_engine);
  return done("test_provider_lifetime");
}
