/* A provider written in C, registered with the engine. */
#include <stdatomic.h>
#include "harness.h"

typedef struct {
  atomic_int calls;
  atomic_int freed;
} state;

static int lookup(void *userdata, const char *pattern, se_results *results) {
  state *s = userdata;
  atomic_fetch_add(&s->calls, 1);
  const char *ids[] = {"c/alpha", "c/beta", "outside/declared"};
  const char *values[] = {"one", "two", "three"};
  for (int i = 0; i < 3; i++) {
    if (se_pattern_matches(pattern, ids[i])) {
      if (se_results_add(results, ids[i], (const uint8_t *)values[i], strlen(values[i])) != SE_STATUS_OK) return 1;
    }
  }
  /* An invalid id is refused, not stored. */
  if (se_results_add(results, "not valid", (const uint8_t *)"x", 1) != SE_STATUS_INVALID_ID) return 2;
  return 0;
}

static int broken(void *userdata, const char *pattern, se_results *results) {
  (void)userdata;
  (void)pattern;
  se_results_set_error(results, "backend down");
  return 7;
}

static void release(void *userdata) {
  atomic_fetch_add(&((state *)userdata)->freed, 1);
}

int main(void) {
  state s = {0, 0};
  se_engine *e = memory_engine();
  se_provider_callbacks cb = {lookup, release};
  CHECK_OK(se_engine_register_provider(e, "c-provider", "c/**", &cb, &s));
  /* Names are checked; a failed registration still releases the userdata. */
  state s2 = {0, 0};
  CHECK_STATUS(se_engine_register_provider(e, "c-provider", "c/**", &cb, &s2), SE_STATUS_INVALID_ARGUMENT);
  CHECK(atomic_load(&s2.freed) == 1);
  CHECK_STATUS(se_engine_register_provider(e, "bad", "c/*x", &cb, &s2), SE_STATUS_INVALID_PATTERN);
  CHECK(atomic_load(&s2.freed) == 2);

  se_envelope_list *list = NULL;
  CHECK_OK(se_engine_get_secrets(e, "c/*", &list));
  CHECK(se_envelope_list_len(list) == 2);
  CHECK(strcmp(se_envelope_id(se_envelope_list_get(list, 0)), "c/alpha") == 0);
  CHECK(strcmp(se_envelope_provider(se_envelope_list_get(list, 0)), "c-provider") == 0);
  se_envelope_list_free(list);
  /* Not asked when its pattern does not overlap. */
  int before = atomic_load(&s.calls);
  CHECK_STATUS(se_engine_get_secrets(e, "outside/declared", &list), SE_STATUS_NOT_FOUND);
  CHECK(atomic_load(&s.calls) == before);

  /* Resolve an env var through it, beside the memory store. */
  CHECK_OK(se_engine_set_secret(e, "m/x", (const uint8_t *)"mem", 3));
  const char *env[] = {"A=se://c/beta", "B=se://m/x"};
  se_string_list *out = NULL;
  CHECK_OK(se_engine_resolve_env(e, env, 2, 0, &out));
  CHECK(strcmp(se_string_list_get(out, 0), "A=two") == 0);
  CHECK(strcmp(se_string_list_get(out, 1), "B=mem") == 0);
  se_string_list_free(out);

  /* Plugins show it, configurable. */
  se_plugin_list *plugins = NULL;
  CHECK_OK(se_engine_plugins(e, &plugins));
  CHECK(se_plugin_list_len(plugins) == 2);
  CHECK(strcmp(se_plugin_name(se_plugin_list_get(plugins, 1)), "c-provider") == 0);
  CHECK(se_plugin_configurable(se_plugin_list_get(plugins, 1)));
  se_plugin_list_free(plugins);
  CHECK_OK(se_engine_disable_plugin(e, "c-provider"));
  CHECK_STATUS(se_engine_get_secrets(e, "c/alpha", &list), SE_STATUS_NOT_FOUND);
  CHECK_OK(se_engine_enable_plugin(e, "c-provider"));

  /* A failing provider is reported by name, with its message. */
  se_provider_callbacks bad = {broken, NULL};
  CHECK_OK(se_engine_register_provider(e, "broken", "b/**", &bad, NULL));
  CHECK_STATUS(se_engine_get_secrets(e, "b/x", &list), SE_STATUS_PROVIDER_FAILED);
  CHECK(strstr(last_error(), "broken") != NULL && strstr(last_error(), "backend down") != NULL);
  /* Partial: found elsewhere, failure carried beside it. */
  CHECK_OK(se_engine_set_secret(e, "b/x", (const uint8_t *)"v", 1));
  CHECK_OK(se_engine_get_secrets(e, "b/x", &list));
  CHECK(se_envelope_list_len(list) == 1);
  CHECK(se_envelope_list_failures_len(list) == 1);
  const char *prov = NULL, *msg = NULL;
  CHECK_OK(se_envelope_list_failure(list, 0, &prov, &msg));
  CHECK(strcmp(prov, "broken") == 0 && strstr(msg, "backend down") != NULL);
  se_envelope_list_free(list);

  se_engine_free(e);
  CHECK(atomic_load(&s.freed) == 1);
  return done("test_provider");
}
