/* 8 threads resolving concurrently through one engine. */
#include <pthread.h>
#include "harness.h"

#define THREADS 8
#define ROUNDS 500

static se_engine *engine;
static int errors[THREADS];

static void *worker(void *arg) {
  int t = (int)(intptr_t)arg;
  char id[64], env0[96];
  snprintf(id, sizeof id, "t/%d", t);
  snprintf(env0, sizeof env0, "V=se://t/%d", t);
  for (int i = 0; i < ROUNDS; i++) {
    se_envelope_list *list = NULL;
    if (se_engine_get_secrets(engine, id, &list) != SE_STATUS_OK || se_envelope_list_len(list) != 1) errors[t]++;
    const uint8_t *p;
    size_t n;
    se_envelope_value(se_envelope_list_get(list, 0), &p, &n);
    if (n != 8 || memcmp(p, "value-", 6) != 0) errors[t]++;
    se_envelope_list_free(list);
    const char *env[] = {env0};
    se_string_list *out = NULL;
    if (se_engine_resolve_env(engine, env, 1, 0, &out) != SE_STATUS_OK) errors[t]++;
    se_string_list_free(out);
    /* Errors stay per thread. */
    if (se_engine_get_secrets(engine, "missing/x", &list) != SE_STATUS_NOT_FOUND) errors[t]++;
    if (strstr(last_error(), "missing/x") == NULL) errors[t]++;
  }
  return NULL;
}

int main(void) {
  engine = memory_engine();
  for (int t = 0; t < THREADS; t++) {
    char id[64], value[16];
    snprintf(id, sizeof id, "t/%d", t);
    snprintf(value, sizeof value, "value-%02d", t);
    CHECK_OK(se_engine_set_secret(engine, id, (const uint8_t *)value, strlen(value)));
  }
  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t);
  for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
  for (int t = 0; t < THREADS; t++) CHECK(errors[t] == 0);
  se_engine_free(engine);
  return done("test_threads");
}
