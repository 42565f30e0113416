/* Every NULL argument, invalid UTF-8, invalid patterns, freeing NULL. */
#include "harness.h"

int main(void) {
  se_engine *e = memory_engine();
  se_envelope_list *list = NULL;
  se_string_list *strings = NULL;
  se_plugin_list *plugins = NULL;
  const char bad_utf8[] = {'a', (char)0xff, 'b', 0};
  const char bad_utf8_env[] = {'X', '=', (char)0xc3, 0};

  /* se_engine_new */
  CHECK_STATUS(se_engine_new(NULL, NULL), SE_STATUS_NULL_ARGUMENT);
  se_engine_options o;
  memset(&o, 0, sizeof o);
  o.store = 77;
  se_engine *x = NULL;
  CHECK_STATUS(se_engine_new(&o, &x), SE_STATUS_INVALID_ARGUMENT);
  CHECK(x == NULL);
  o.store = SE_STORE_MEMORY;
  o.config_path = bad_utf8;
  CHECK_STATUS(se_engine_new(&o, &x), SE_STATUS_INVALID_UTF8);

  /* get_secrets */
  CHECK_STATUS(se_engine_get_secrets(NULL, "a", &list), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_get_secrets(e, NULL, &list), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_get_secrets(e, "a", NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_get_secrets(e, bad_utf8, &list), SE_STATUS_INVALID_UTF8);
  CHECK(strstr(last_error(), "pattern is not UTF-8") != NULL);
  const char *bad_patterns[] = {"", "/", "a/", "a//b", "***", "a*", "*a", "a b", "\xc3\xa9"};
  for (size_t i = 0; i < sizeof bad_patterns / sizeof *bad_patterns; i++) {
    se_status s = se_engine_get_secrets(e, bad_patterns[i], &list);
    CHECK(s == SE_STATUS_INVALID_PATTERN);
  }
  /* A pattern over the 4096-byte limit is refused, not slow. */
  char *huge = malloc(1 << 20);
  memset(huge, 'a', (1 << 20) - 1);
  huge[(1 << 20) - 1] = 0;
  CHECK_STATUS(se_engine_get_secrets(e, huge, &list), SE_STATUS_INVALID_PATTERN);
  CHECK(strlen(last_error()) < 400);
  CHECK(!se_id_is_valid(huge));
  free(huge);

  /* resolve_env */
  const char *env[] = {"A=b", NULL};
  CHECK_STATUS(se_engine_resolve_env(NULL, env, 1, 0, &strings), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_resolve_env(e, NULL, 1, 0, &strings), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_resolve_env(e, env, 2, 0, &strings), SE_STATUS_NULL_ARGUMENT);
  CHECK(strstr(last_error(), "env[1]") != NULL);
  CHECK_STATUS(se_engine_resolve_env(e, env, 1, 0, NULL), SE_STATUS_NULL_ARGUMENT);
  const char *bad_env[] = {bad_utf8_env};
  CHECK_STATUS(se_engine_resolve_env(e, bad_env, 1, 0, &strings), SE_STATUS_INVALID_UTF8);

  /* store */
  CHECK_STATUS(se_engine_set_secret(NULL, "a", (const uint8_t *)"v", 1), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_set_secret(e, NULL, (const uint8_t *)"v", 1), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_set_secret(e, "a", NULL, 1), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_set_secret(e, bad_utf8, (const uint8_t *)"v", 1), SE_STATUS_INVALID_UTF8);
  CHECK_STATUS(se_engine_set_secret_with_metadata(e, "a", (const uint8_t *)"v", 1, NULL, NULL, 1), SE_STATUS_NULL_ARGUMENT);
  const char *keys[] = {NULL};
  const char *vals[] = {"v"};
  CHECK_STATUS(se_engine_set_secret_with_metadata(e, "a", (const uint8_t *)"v", 1, keys, vals, 1), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_remove_secret(NULL, "a"), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_remove_secret(e, NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_list_secrets(NULL, NULL, &strings), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_list_secrets(e, NULL, NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_list_secrets(e, "x*", &strings), SE_STATUS_INVALID_PATTERN);

  /* plugins */
  CHECK_STATUS(se_engine_plugins(NULL, &plugins), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_plugins(e, NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_enable_plugin(e, NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_disable_plugin(NULL, "x"), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_register_provider(e, "x", "**", NULL, NULL), SE_STATUS_NULL_ARGUMENT);
  se_provider_callbacks empty = {NULL, NULL};
  CHECK_STATUS(se_engine_register_provider(e, "x", "**", &empty, NULL), SE_STATUS_NULL_ARGUMENT);

  CHECK_STATUS(se_engine_enable_plugin(NULL, "x"), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_disable_plugin(e, NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_enable_plugin(e, bad_utf8), SE_STATUS_INVALID_UTF8);
  se_provider_callbacks some = {NULL, NULL};
  CHECK_STATUS(se_engine_register_provider(NULL, "x", "**", &some, NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_remove_secret(e, bad_utf8), SE_STATUS_INVALID_UTF8);
  CHECK_STATUS(se_engine_list_secrets(e, bad_utf8, &strings), SE_STATUS_INVALID_UTF8);
  const char *meta_keys[] = {"k"};
  const char *meta_null_value[] = {NULL};
  const char *meta_bad_value[] = {bad_utf8};
  CHECK_STATUS(se_engine_set_secret_with_metadata(e, "a", (const uint8_t *)"v", 1, meta_keys, meta_null_value, 1), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_set_secret_with_metadata(e, "a", (const uint8_t *)"v", 1, meta_keys, meta_bad_value, 1), SE_STATUS_INVALID_UTF8);
  CHECK_STATUS(se_results_add(NULL, "a", (const uint8_t *)"v", 1), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_results_set_error(NULL, "m"), SE_STATUS_NULL_ARGUMENT);

  /* out-pointers of accessors, on a real list */
  CHECK_OK(se_engine_set_secret(e, "m/x", (const uint8_t *)"v", 1));
  CHECK_OK(se_engine_get_secrets(e, "m/x", &list));
  const se_envelope *env0 = se_envelope_list_get(list, 0);
  const char *kk, *vv;
  CHECK_STATUS(se_envelope_metadata_get(env0, 0, NULL, &vv), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_envelope_metadata_get(env0, 0, &kk, NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_envelope_metadata_get(env0, 0, &kk, &vv), SE_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "out of range") != NULL);
  CHECK_STATUS(se_envelope_list_failure(list, 0, NULL, &vv), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_envelope_list_failure(list, 0, &kk, &vv), SE_STATUS_INVALID_ARGUMENT);
  se_envelope_list_free(list);
  list = NULL;

  /* plugin accessors on NULL */
  CHECK(se_plugin_list_get(NULL, 0) == NULL);
  CHECK(se_plugin_pattern(NULL) == NULL);
  CHECK(se_plugin_message(NULL) == NULL);
  CHECK(se_plugin_get_state(NULL) == SE_PLUGIN_DISABLED);
  CHECK(se_envelope_created_at_ms(NULL) == -1);
  CHECK(se_envelope_expires_at_ms(NULL) == -1);
  CHECK(se_envelope_list_failures_len(NULL) == 0);

  /* accessors on NULL give neutral values */
  CHECK(se_envelope_list_len(NULL) == 0);
  CHECK(se_envelope_list_get(NULL, 0) == NULL);
  CHECK(se_envelope_id(NULL) == NULL);
  CHECK(se_envelope_provider(NULL) == NULL);
  CHECK(se_envelope_version(NULL) == NULL);
  CHECK(se_envelope_metadata_len(NULL) == 0);
  CHECK(se_envelope_resolved_at_ms(NULL) == -1);
  const uint8_t *ptr = (const uint8_t *)"x";
  size_t len = 5;
  se_envelope_value(NULL, &ptr, &len);
  CHECK(ptr == NULL && len == 0);
  se_envelope_value(NULL, NULL, NULL);
  const char *k, *v;
  CHECK_STATUS(se_envelope_metadata_get(NULL, 0, &k, &v), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_envelope_list_failure(NULL, 0, &k, &v), SE_STATUS_NULL_ARGUMENT);
  CHECK(se_string_list_len(NULL) == 0);
  CHECK(se_string_list_get(NULL, 0) == NULL);
  CHECK(se_plugin_list_len(NULL) == 0);
  CHECK(se_plugin_name(NULL) == NULL);
  CHECK(!se_plugin_configurable(NULL));
  CHECK(!se_id_is_valid(NULL));
  CHECK(!se_pattern_is_valid(NULL));
  CHECK(!se_pattern_matches(NULL, "a"));
  CHECK(!se_pattern_matches("a", NULL));
  CHECK(!se_pattern_matches(bad_utf8, "a"));
  size_t written;
  CHECK_STATUS(se_last_error_message(NULL, 10, &written), SE_STATUS_NULL_ARGUMENT);
  char buf[4];
  CHECK_STATUS(se_last_error_message(buf, sizeof buf, NULL), SE_STATUS_NULL_ARGUMENT);

  /* freeing NULL is a no-op */
  se_engine_free(NULL);
  se_envelope_list_free(NULL);
  se_string_list_free(NULL);
  se_plugin_list_free(NULL);

  se_engine_free(e);
  return done("test_hostile");
}
