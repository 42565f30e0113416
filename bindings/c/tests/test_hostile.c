/* Every NULL argument, invalid UTF-8, invalid patterns, freeing NULL; huge lengths and
 * indices; a hostile C provider; lists that outlive the engine and failed calls that
 * leave out-pointers alone (what makes use-after-free and double free avoidable). */
#include <stdint.h>
#include "harness.h"

static const char bad_utf8_id[] = {'h', '/', (char)0xc3, (char)0x28, 0};
static int hostile_checks_failed;
#define HOSTILE_EXPECT(call, want) \
  do {                             \
    if ((call) != (want)) hostile_checks_failed++; \
  } while (0)

/* A provider that passes every bad argument se_results_* can get, then one good
 * secret and one outside its pattern (which the engine must drop). */
static int hostile_get(void *userdata, const char *pattern, se_results *results) {
  (void)userdata;
  (void)pattern;
  HOSTILE_EXPECT(se_results_add(results, NULL, (const uint8_t *)"v", 1), SE_STATUS_NULL_ARGUMENT);
  HOSTILE_EXPECT(se_results_add(results, bad_utf8_id, (const uint8_t *)"v", 1), SE_STATUS_INVALID_UTF8);
  HOSTILE_EXPECT(se_results_add(results, "h/x", NULL, SIZE_MAX), SE_STATUS_NULL_ARGUMENT);
  HOSTILE_EXPECT(se_results_add(results, "h//x", (const uint8_t *)"v", 1), SE_STATUS_INVALID_ID);
  HOSTILE_EXPECT(se_results_add(results, "h/*", (const uint8_t *)"v", 1), SE_STATUS_INVALID_ID);
  HOSTILE_EXPECT(se_results_set_error(results, NULL), SE_STATUS_NULL_ARGUMENT);
  HOSTILE_EXPECT(se_results_set_error(results, bad_utf8_id), SE_STATUS_INVALID_UTF8);
  HOSTILE_EXPECT(se_results_add(results, "h/empty", NULL, 0), SE_STATUS_OK);
  HOSTILE_EXPECT(se_results_add(results, "elsewhere/x", (const uint8_t *)"no", 2), SE_STATUS_OK);
  return 0;
}

static int frees;
static void count_free(void *userdata) {
  (void)userdata;
  frees++;
}

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

  /* Huge lengths and indices: refused or neutral, never read. */
  CHECK_STATUS(se_engine_set_secret(e, "h/a", NULL, SIZE_MAX), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_resolve_env(e, NULL, SIZE_MAX, 0, &strings), SE_STATUS_NULL_ARGUMENT);
  CHECK(strings == NULL);
  CHECK_STATUS(se_engine_set_secret_with_metadata(e, "h/a", (const uint8_t *)"v", 1, meta_keys, NULL, SIZE_MAX), SE_STATUS_NULL_ARGUMENT);
  const char *meta_bad_key[] = {bad_utf8};
  const char *meta_value[] = {"v"};
  CHECK_STATUS(se_engine_set_secret_with_metadata(e, "h/a", (const uint8_t *)"v", 1, meta_bad_key, meta_value, 1), SE_STATUS_INVALID_UTF8);
  CHECK_STATUS(se_engine_disable_plugin(e, bad_utf8), SE_STATUS_INVALID_UTF8);
  CHECK(strcmp(se_status_str(UINT32_MAX), "unknown status") == 0);
  CHECK(strcmp(se_status_str(SE_STATUS_PANIC + 1), "unknown status") == 0);
  const char *flag_env[] = {"A=b"};
  CHECK_STATUS(se_engine_resolve_env(e, flag_env, 1, 4, &strings), SE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(se_engine_resolve_env(e, flag_env, 1, -1, &strings), SE_STATUS_INVALID_ARGUMENT);
  const char *bad_name_env[] = {"\xff\xfe=b"};
  CHECK_STATUS(se_engine_resolve_env(e, bad_name_env, 1, 0, &strings), SE_STATUS_INVALID_UTF8);
  const char *bad_ref_env[] = {"A=se://a//b", "B=se://\xc3"};
  CHECK_STATUS(se_engine_resolve_env(e, bad_ref_env, 1, 0, &strings), SE_STATUS_INVALID_REFERENCE);
  CHECK(strncmp(last_error(), "A: ", 3) == 0);
  CHECK_STATUS(se_engine_resolve_env(e, bad_ref_env + 1, 1, 0, &strings), SE_STATUS_INVALID_UTF8);

  /* A 16 MiB binary value, NULs included, comes back byte for byte, and cannot
   * become an environment value. */
  size_t big_len = (size_t)16 << 20;
  uint8_t *big = malloc(big_len);
  for (size_t i = 0; i < big_len; i++) big[i] = (uint8_t)(i * 131u);
  CHECK_OK(se_engine_set_secret(e, "h/big", big, big_len));
  CHECK_OK(se_engine_get_secrets(e, "h/big", &list));
  const uint8_t *big_ptr = NULL;
  size_t got_len = 0;
  se_envelope_value(se_envelope_list_get(list, 0), &big_ptr, &got_len);
  CHECK(got_len == big_len && memcmp(big_ptr, big, big_len) == 0);
  se_envelope_list_free(list);
  list = NULL;
  const char *big_env[] = {"BIG=se://h/big"};
  CHECK_STATUS(se_engine_resolve_env(e, big_env, 1, 0, &strings), SE_STATUS_UNREPRESENTABLE);
  CHECK(strings == NULL);
  CHECK_OK(se_engine_remove_secret(e, "h/big"));
  free(big);

  /* Last error into buffers of every small size: always NUL-terminated, cut
   * messages say so. */
  CHECK_STATUS(se_engine_get_secrets(e, "a//b", &list), SE_STATUS_INVALID_PATTERN);
  size_t full = se_last_error_length();
  CHECK(full > 4 && full < 400);
  for (size_t n = 1; n <= full + 1; n++) {
    char *small = malloc(n);
    size_t w = SIZE_MAX;
    se_status s = se_last_error_message(small, n, &w);
    CHECK(w == (n - 1 < full ? n - 1 : full) && small[w] == 0);
    CHECK(s == (w < full ? SE_STATUS_BUFFER_TOO_SMALL : SE_STATUS_OK));
    free(small);
  }
  size_t w0 = SIZE_MAX;
  CHECK_STATUS(se_last_error_message(NULL, 0, &w0), SE_STATUS_BUFFER_TOO_SMALL);
  CHECK(w0 == 0);

  /* A hostile provider: each bad se_results_* call is refused, the good secret
   * arrives, the one outside its pattern is dropped. */
  se_provider_callbacks hostile = {hostile_get, count_free};
  CHECK_OK(se_engine_register_provider(e, "hostile", "h/**", &hostile, NULL));
  CHECK_OK(se_engine_get_secrets(e, "h/**", &list));
  CHECK(hostile_checks_failed == 0);
  CHECK(se_envelope_list_len(list) == 1);
  CHECK(strcmp(se_envelope_id(se_envelope_list_get(list, 0)), "h/empty") == 0);
  const uint8_t *empty_ptr = NULL;
  size_t empty_len = 99;
  se_envelope_value(se_envelope_list_get(list, 0), &empty_ptr, &empty_len);
  CHECK(empty_len == 0);
  CHECK(se_envelope_list_get(list, SIZE_MAX) == NULL);
  CHECK_STATUS(se_envelope_metadata_get(se_envelope_list_get(list, 0), SIZE_MAX, &kk, &vv), SE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(se_envelope_list_failure(list, SIZE_MAX, &kk, &vv), SE_STATUS_INVALID_ARGUMENT);
  se_envelope_list_free(list);
  list = NULL;

  /* Registration takes userdata even when it fails: freed once per failure. */
  frees = 0;
  se_provider_callbacks no_get = {NULL, count_free};
  CHECK_STATUS(se_engine_register_provider(e, "x", "x/**", &no_get, NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_register_provider(NULL, "x", "x/**", &hostile, NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_register_provider(e, bad_utf8, "x/**", &hostile, NULL), SE_STATUS_INVALID_UTF8);
  CHECK_STATUS(se_engine_register_provider(e, "x", bad_utf8, &hostile, NULL), SE_STATUS_INVALID_UTF8);
  CHECK_STATUS(se_engine_register_provider(e, "x", NULL, &hostile, NULL), SE_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(se_engine_register_provider(e, "x", "x/*y", &hostile, NULL), SE_STATUS_INVALID_PATTERN);
  CHECK_STATUS(se_engine_register_provider(e, "hostile", "x/**", &hostile, NULL), SE_STATUS_INVALID_ARGUMENT);
  CHECK(frees == 7);

  /* A failed call leaves *out alone: a caller's NULL stays NULL (freeing it is a
   * no-op), and a stale pointer is never overwritten with a freed one. */
  se_envelope_list *sentinel = (se_envelope_list *)(uintptr_t)0x1;
  se_envelope_list *kept = sentinel;
  CHECK_STATUS(se_engine_get_secrets(e, "nothing/here", &kept), SE_STATUS_NOT_FOUND);
  CHECK(kept == sentinel);
  se_string_list *kept_strings = (se_string_list *)(uintptr_t)0x1;
  CHECK_STATUS(se_engine_list_secrets(e, "a//b", &kept_strings), SE_STATUS_INVALID_PATTERN);
  CHECK(kept_strings == (se_string_list *)(uintptr_t)0x1);

  /* Lists own their data: they outlive each other and the engine (ASan and
   * valgrind check every byte read below). */
  CHECK_OK(se_engine_set_secret(e, "m/y", (const uint8_t *)"second", 6));
  se_envelope_list *l1 = NULL, *l2 = NULL;
  se_string_list *ids = NULL, *resolved = NULL;
  se_plugin_list *pl = NULL;
  CHECK_OK(se_engine_get_secrets(e, "m/x", &l1));
  CHECK_OK(se_engine_get_secrets(e, "m/*", &l2));
  CHECK_OK(se_engine_list_secrets(e, NULL, &ids));
  const char *ref_env[] = {"X=se://m/y", "PLAIN=1"};
  CHECK_OK(se_engine_resolve_env(e, ref_env, 2, 0, &resolved));
  CHECK_OK(se_engine_plugins(e, &pl));
  se_envelope_list_free(l1);
  CHECK_OK(se_engine_remove_secret(e, "m/y"));
  se_engine_free(e);
  e = NULL;
  CHECK(frees == 8); /* the registered hostile provider's userdata, with the engine */
  CHECK(se_envelope_list_len(l2) == 2);
  const uint8_t *p2 = NULL;
  size_t n2 = 0;
  se_envelope_value(se_envelope_list_get(l2, 1), &p2, &n2);
  CHECK(n2 == 6 && memcmp(p2, "second", 6) == 0);
  CHECK(strcmp(se_envelope_provider(se_envelope_list_get(l2, 1)), "memory") == 0);
  CHECK(se_string_list_len(ids) == 2 && strcmp(se_string_list_get(ids, 1), "m/y") == 0);
  CHECK(strcmp(se_string_list_get(resolved, 0), "X=second") == 0);
  CHECK(se_string_list_get(resolved, SIZE_MAX) == NULL);
  CHECK(se_plugin_list_len(pl) >= 2 && se_plugin_list_get(pl, SIZE_MAX) == NULL);
  CHECK(strcmp(se_plugin_name(se_plugin_list_get(pl, 0)), "memory") == 0);
  se_envelope_list_free(l2);
  se_string_list_free(ids);
  se_string_list_free(resolved);
  se_plugin_list_free(pl);
  return done("test_hostile");
}
