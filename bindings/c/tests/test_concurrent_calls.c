/* Every kind of call on one engine from many threads at once, ending with
 * se_engine_free while calls are still in flight. Built with ASan by scripts/test-c
 * and with ThreadSanitizer by scripts/tsan, which must report nothing.
 *
 * WORKERS threads each register C providers, set, get, remove, resolve env
 * entries, list plugins, and disable and enable one another's providers, on one
 * engine (the memory store plus the C providers). Every answer is checked against
 * what the calling thread knows: its own ids have only its own writes, and another
 * thread's toggles can only make a provider answer or not answer.
 *
 * Then se_engine_free runs while
 *   - one call is held inside a provider callback (the "blocker"): free must wait
 *     for it, and that call must still succeed;
 *   - the workers keep calling: a call started once free has begun must fail with
 *     SE_STATUS_INVALID_ARGUMENT ("engine was freed"), never crash or answer.
 * When free returns, every provider's free_userdata has run, exactly once.
 *
 * The ordering is checked through one mutex and condition variable, not sleeps: the
 * blocker's callback records that it returned, under the mutex, before its call can
 * return; the main thread reads that record, under the mutex, right after
 * se_engine_free returns, and before it lets the callback's wait end. A free that did
 * not wait would find the callback still waiting. (The callback's wait is bounded at
 * 300 ms so a broken free fails the test instead of hanging it.)
 *
 * CHECK is only used on the main thread: harness.h's counters are plain ints. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "harness.h"

#define WORKERS 6
#define ROUNDS 60
#define IDS 4

static se_engine *engine;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
/* Guarded by mu. */
static int rounds_done[WORKERS];
static int blocker_entered, free_started, free_returned, blocker_returned;
static int blocker_saw_free_return;

/* Registrations tried, registrations that succeeded, userdata released. */
static atomic_int attempts, registered, released;
static atomic_int errors[WORKERS];
static atomic_int refused_after_free[WORKERS];
static atomic_int refused_before_free[WORKERS];

static void report(int t, const char *what, se_status got) {
  atomic_fetch_add(&errors[t], 1);
  pthread_mutex_lock(&mu);
  fprintf(stderr, "worker %d: %s: %d (%s): %s\n", t, what, (int)got, se_status_str((uint32_t)got), last_error());
  pthread_mutex_unlock(&mu);
}

typedef struct {
  int owner;
  char id[48];
  char value[16];
} provider_state;

static int answer(void *userdata, const char *pattern, se_results *results) {
  provider_state *s = userdata;
  if (se_pattern_matches(pattern, s->id)) {
    if (se_results_add(results, s->id, (const uint8_t *)s->value, strlen(s->value)) != SE_STATUS_OK) return 1;
  }
  return 0;
}

static void release(void *userdata) {
  atomic_fetch_add(&released, 1);
  free(userdata);
}

/* Registers provider `name` answering `id` with `value`. */
static se_status register_answering(int owner, const char *name, const char *pattern, const char *id, const char *value) {
  provider_state *s = calloc(1, sizeof *s);
  s->owner = owner;
  snprintf(s->id, sizeof s->id, "%s", id);
  snprintf(s->value, sizeof s->value, "%s", value);
  se_provider_callbacks cb = {answer, release};
  atomic_fetch_add(&attempts, 1);
  /* The engine owns s from here, even when registration fails. */
  se_status st = se_engine_register_provider(engine, name, pattern, &cb, s);
  if (st == SE_STATUS_OK) atomic_fetch_add(&registered, 1);
  return st;
}

static int free_has_started(void) {
  pthread_mutex_lock(&mu);
  int started = free_started;
  pthread_mutex_unlock(&mu);
  return started;
}

/* A status from a call that may race with se_engine_free: INVALID_ARGUMENT is right
 * only once free has begun (and then the worker stops). Returns 1 to stop. */
static int refused(int t, se_status got) {
  if (got != SE_STATUS_INVALID_ARGUMENT) return 0;
  if (free_has_started() && strstr(last_error(), "freed") != NULL) {
    atomic_fetch_add(&refused_after_free[t], 1);
  } else {
    atomic_fetch_add(&refused_before_free[t], 1);
    report(t, "refused before se_engine_free began", got);
  }
  return 1;
}

#define EXPECT(t, call, ok_cond)             \
  do {                                       \
    se_status got_ = (call);                 \
    if (refused(t, got_)) return NULL;       \
    if (!(ok_cond)) report(t, #call, got_);  \
  } while (0)

static void *worker(void *arg) {
  int t = (int)(intptr_t)arg;
  char name[32], pattern[32], id[48], value[32], env0[96];
  snprintf(name, sizeof name, "c%d", t);
  snprintf(pattern, sizeof pattern, "c/%d/**", t);
  snprintf(id, sizeof id, "c/%d/x", t);
  snprintf(value, sizeof value, "v%d", t);
  EXPECT(t, register_answering(t, name, pattern, id, value), got_ == SE_STATUS_OK);
  for (int i = 0;; i++) {
    se_status st;
    /* Own ids w/<t>/<k>: only this thread writes them. */
    snprintf(id, sizeof id, "w/%d/%d", t, i % IDS);
    snprintf(value, sizeof value, "t%d-%d", t, i);
    EXPECT(t, se_engine_set_secret(engine, id, (const uint8_t *)value, strlen(value)), got_ == SE_STATUS_OK);
    se_envelope_list *list = NULL;
    EXPECT(t, st = se_engine_get_secrets(engine, id, &list), got_ == SE_STATUS_OK && se_envelope_list_len(list) == 1);
    if (st == SE_STATUS_OK) {
      const uint8_t *p = NULL;
      size_t n = 0;
      se_envelope_value(se_envelope_list_get(list, 0), &p, &n);
      if (n != strlen(value) || memcmp(p, value, n) != 0) report(t, "get returned another value", st);
      se_envelope_list_free(list);
    }
    /* Removing the id written two rounds ago: present unless removed since. */
    snprintf(id, sizeof id, "w/%d/%d", t, (i + 2) % IDS);
    EXPECT(t, se_engine_remove_secret(engine, id), got_ == SE_STATUS_OK || got_ == SE_STATUS_NOT_FOUND);
    list = NULL;
    EXPECT(t, se_engine_get_secrets(engine, id, &list), got_ == SE_STATUS_NOT_FOUND && list == NULL);
    snprintf(env0, sizeof env0, "V=se://w/%d/%d", t, i % IDS);
    const char *env[] = {env0};
    se_string_list *out = NULL;
    EXPECT(t, st = se_engine_resolve_env(engine, env, 1, 0, &out), got_ == SE_STATUS_OK);
    if (st == SE_STATUS_OK) {
      if (strcmp(se_string_list_get(out, 0) + 2, value) != 0) report(t, "resolve_env returned another value", st);
      se_string_list_free(out);
    }
    /* Its own provider: answers its value, or nothing while another thread has it
     * disabled. */
    snprintf(id, sizeof id, "c/%d/x", t);
    snprintf(value, sizeof value, "v%d", t);
    list = NULL;
    EXPECT(t, st = se_engine_get_secrets(engine, id, &list), got_ == SE_STATUS_OK || got_ == SE_STATUS_NOT_FOUND);
    if (st == SE_STATUS_OK) {
      const uint8_t *p = NULL;
      size_t n = 0;
      se_envelope_value(se_envelope_list_get(list, 0), &p, &n);
      if (se_envelope_list_len(list) != 1 || n != strlen(value) || memcmp(p, value, n) != 0) report(t, "provider answered another value", st);
      se_envelope_list_free(list);
    }
    /* The next thread's provider, off and on again (it may not be registered yet). */
    snprintf(name, sizeof name, "c%d", (t + 1) % WORKERS);
    EXPECT(t, se_engine_disable_plugin(engine, name), got_ == SE_STATUS_OK || got_ == SE_STATUS_UNKNOWN_PROVIDER);
    EXPECT(t, se_engine_enable_plugin(engine, name), got_ == SE_STATUS_OK || got_ == SE_STATUS_UNKNOWN_PROVIDER);
    se_plugin_list *plugins = NULL;
    EXPECT(t, st = se_engine_plugins(engine, &plugins), got_ == SE_STATUS_OK && se_plugin_list_len(plugins) >= 2);
    if (st == SE_STATUS_OK) se_plugin_list_free(plugins);
    /* Now and then one more provider of its own, registered among the lookups. */
    if (i % 20 == 10) {
      char extra[32], extra_pattern[32], extra_id[48];
      snprintf(extra, sizeof extra, "c%d-%d", t, i);
      snprintf(extra_pattern, sizeof extra_pattern, "c/%d/%d/**", t, i);
      snprintf(extra_id, sizeof extra_id, "c/%d/%d/y", t, i);
      EXPECT(t, register_answering(t, extra, extra_pattern, extra_id, "extra"), got_ == SE_STATUS_OK);
      list = NULL;
      EXPECT(t, st = se_engine_get_secrets(engine, extra_id, &list), got_ == SE_STATUS_OK && se_envelope_list_len(list) == 1);
      if (st == SE_STATUS_OK) se_envelope_list_free(list);
    }
    pthread_mutex_lock(&mu);
    rounds_done[t] = i + 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
  }
}

/* The blocker's callback: holds its call in flight until se_engine_free has begun,
 * then until free returns or 300 ms pass; records that it returned. */
static int block_until_free(void *userdata, const char *pattern, se_results *results) {
  (void)userdata;
  pthread_mutex_lock(&mu);
  blocker_entered = 1;
  pthread_cond_broadcast(&cv);
  while (!free_started) pthread_cond_wait(&cv, &mu);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += 300 * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  int rc = 0;
  while (!free_returned && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&cv, &mu, &until);
  blocker_saw_free_return = free_returned;
  blocker_returned = 1;
  pthread_mutex_unlock(&mu);
  if (se_pattern_matches(pattern, "block/x")) se_results_add(results, "block/x", (const uint8_t *)"held", 4);
  return 0;
}

static se_status blocker_status = SE_STATUS_PANIC;
static int blocker_value_ok;

static void *blocker(void *arg) {
  (void)arg;
  se_envelope_list *list = NULL;
  blocker_status = se_engine_get_secrets(engine, "block/x", &list);
  if (blocker_status == SE_STATUS_OK) {
    const uint8_t *p = NULL;
    size_t n = 0;
    se_envelope_value(se_envelope_list_get(list, 0), &p, &n);
    /* The list outlives the engine. */
    blocker_value_ok = n == 4 && memcmp(p, "held", 4) == 0;
    se_envelope_list_free(list);
  }
  return NULL;
}

int main(void) {
  se_engine_options o;
  memset(&o, 0, sizeof o);
  o.store = SE_STORE_MEMORY;
  o.no_config = true;
  o.deadline_ms = 20000;
  CHECK_OK(se_engine_new(&o, &engine));
  se_provider_callbacks bcb = {block_until_free, NULL};
  CHECK_OK(se_engine_register_provider(engine, "blocker", "block/**", &bcb, NULL));

  pthread_t workers[WORKERS], held;
  for (int t = 0; t < WORKERS; t++) pthread_create(&workers[t], NULL, worker, (void *)(intptr_t)t);

  /* Every worker through ROUNDS rounds of everything at once. */
  pthread_mutex_lock(&mu);
  for (int t = 0; t < WORKERS; t++) {
    while (rounds_done[t] < ROUNDS && atomic_load(&errors[t]) == 0 && atomic_load(&refused_before_free[t]) == 0)
      pthread_cond_wait(&cv, &mu);
  }
  pthread_mutex_unlock(&mu);

  /* One call held in flight, then free while it and the workers' calls run. */
  pthread_create(&held, NULL, blocker, NULL);
  pthread_mutex_lock(&mu);
  while (!blocker_entered) pthread_cond_wait(&cv, &mu);
  free_started = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);

  se_engine_free(engine);

  pthread_mutex_lock(&mu);
  int returned_before_free_did = blocker_returned;
  int released_when_free_returned = atomic_load(&released);
  free_returned = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);

  for (int t = 0; t < WORKERS; t++) pthread_join(workers[t], NULL);
  pthread_join(held, NULL);

  /* free waited for the call in flight, which succeeded. */
  CHECK(returned_before_free_did == 1);
  CHECK(blocker_saw_free_return == 0);
  CHECK(blocker_status == SE_STATUS_OK);
  CHECK(blocker_value_ok);
  /* Every registered provider's userdata was released by se_engine_free itself
   * (those refused once free began were released by their own call), each once. */
  CHECK(released_when_free_returned >= atomic_load(&registered));
  CHECK(atomic_load(&released) == atomic_load(&attempts));
  CHECK(atomic_load(&registered) >= WORKERS * (1 + ROUNDS / 20));
  for (int t = 0; t < WORKERS; t++) {
    CHECK(atomic_load(&errors[t]) == 0);
    CHECK(atomic_load(&refused_before_free[t]) == 0);
    /* Each worker kept calling until a call was refused. */
    CHECK(atomic_load(&refused_after_free[t]) == 1);
  }

  /* After free: refused, never a use of freed memory; freeing again does nothing. */
  se_envelope_list *list = NULL;
  CHECK_STATUS(se_engine_get_secrets(engine, "w/0/0", &list), SE_STATUS_INVALID_ARGUMENT);
  CHECK(list == NULL);
  CHECK(strstr(last_error(), "freed") != NULL);
  provider_state *late = calloc(1, sizeof *late);
  se_provider_callbacks cb = {answer, release};
  int before = atomic_load(&released);
  CHECK_STATUS(se_engine_register_provider(engine, "late", "late/**", &cb, late), SE_STATUS_INVALID_ARGUMENT);
  CHECK(atomic_load(&released) == before + 1);
  se_engine_free(engine);
  return done("test_concurrent_calls");
}
