/* Happy paths of the C ABI against an in-memory store; an OCI env list; metadata. */
#include "harness.h"

static void test_version_and_status(void) {
  CHECK(strlen(se_version()) > 0);
  CHECK(strcmp(se_status_str(SE_STATUS_OK), "ok") == 0);
  CHECK(strcmp(se_status_str(SE_STATUS_NOT_FOUND), "not found") == 0);
  CHECK(strcmp(se_status_str(9999), "unknown status") == 0);
  CHECK(SE_STATUS_OK == 0);
}

static void test_validation(void) {
  CHECK(se_id_is_valid("docker/auth/hub/alice"));
  CHECK(se_id_is_valid("127.0.0.1:8080"));
  CHECK(!se_id_is_valid("a//b"));
  CHECK(!se_id_is_valid("a/*"));
  CHECK(!se_id_is_valid(""));
  CHECK(se_pattern_is_valid("docker/**"));
  CHECK(!se_pattern_is_valid("a*"));
  CHECK(se_pattern_matches("docker/*/alice", "docker/hub/alice"));
  CHECK(se_pattern_matches("**", "a/b/c"));
  CHECK(!se_pattern_matches("docker/*", "docker/hub/alice"));
  CHECK(!se_pattern_matches("bad*", "x"));
}

static void test_store_and_lookup(void) {
  se_engine *e = memory_engine();
  const uint8_t bin[] = {0, 1, 2, 0xff, 0};
  CHECK_OK(se_engine_set_secret(e, "db/password", (const uint8_t *)"s3cret", 6));
  CHECK_OK(se_engine_set_secret(e, "db/binary", bin, sizeof bin));
  CHECK_OK(se_engine_set_secret(e, "db/empty", NULL, 0));
  const char *keys[] = {"user", "env"};
  const char *vals[] = {"app", "prod"};
  CHECK_OK(se_engine_set_secret_with_metadata(e, "db/meta", (const uint8_t *)"m", 1, keys, vals, 2));

  se_envelope_list *list = NULL;
  CHECK_OK(se_engine_get_secrets(e, "db/*", &list));
  CHECK(se_envelope_list_len(list) == 4);
  CHECK(se_envelope_list_failures_len(list) == 0);
  /* Sorted by id within the provider. */
  const char *want[] = {"db/binary", "db/empty", "db/meta", "db/password"};
  for (size_t i = 0; i < 4; i++) {
    const se_envelope *env = se_envelope_list_get(list, i);
    CHECK(env != NULL && strcmp(se_envelope_id(env), want[i]) == 0);
    CHECK(strcmp(se_envelope_provider(env), "memory") == 0);
    CHECK(se_envelope_resolved_at_ms(env) > 1700000000000LL);
    CHECK(se_envelope_created_at_ms(env) == -1);
    CHECK(se_envelope_version(env) == NULL);
  }
  const uint8_t *ptr = NULL;
  size_t len = 99;
  se_envelope_value(se_envelope_list_get(list, 0), &ptr, &len);
  CHECK(len == sizeof bin && memcmp(ptr, bin, len) == 0);
  se_envelope_value(se_envelope_list_get(list, 1), &ptr, &len);
  CHECK(len == 0);
  se_envelope_value(se_envelope_list_get(list, 3), &ptr, &len);
  CHECK(len == 6 && memcmp(ptr, "s3cret", 6) == 0);
  const se_envelope *meta = se_envelope_list_get(list, 2);
  CHECK(se_envelope_metadata_len(meta) == 2);
  const char *k = NULL, *v = NULL;
  CHECK_OK(se_envelope_metadata_get(meta, 0, &k, &v));
  CHECK(strcmp(k, "env") == 0 && strcmp(v, "prod") == 0);
  CHECK_STATUS(se_envelope_metadata_get(meta, 2, &k, &v), SE_STATUS_INVALID_ARGUMENT);
  CHECK(se_envelope_list_get(list, 4) == NULL);
  se_envelope_list_free(list);

  /* Distinct outcomes. */
  list = NULL;
  CHECK_STATUS(se_engine_get_secrets(e, "nothing/here", &list), SE_STATUS_NOT_FOUND);
  CHECK(list == NULL);
  CHECK(strstr(last_error(), "nothing/here") != NULL);
  CHECK_STATUS(se_engine_get_secrets(e, "a//b", &list), SE_STATUS_INVALID_PATTERN);
  CHECK(strstr(last_error(), "component 1") != NULL);

  /* Listing and removal. */
  se_string_list *ids = NULL;
  CHECK_OK(se_engine_list_secrets(e, NULL, &ids));
  CHECK(se_string_list_len(ids) == 4);
  CHECK(strcmp(se_string_list_get(ids, 0), "db/binary") == 0);
  CHECK(se_string_list_get(ids, 4) == NULL);
  se_string_list_free(ids);
  CHECK_OK(se_engine_remove_secret(e, "db/empty"));
  CHECK_STATUS(se_engine_remove_secret(e, "db/empty"), SE_STATUS_NOT_FOUND);
  CHECK_STATUS(se_engine_set_secret(e, "bad id", (const uint8_t *)"x", 1), SE_STATUS_INVALID_ID);
  se_engine_free(e);
}

static void test_resolve_env(void) {
  se_engine *e = memory_engine();
  CHECK_OK(se_engine_set_secret(e, "gh/token", (const uint8_t *)"ghp_abc", 7));
  CHECK_OK(se_engine_set_secret(e, "GH_TOKEN", (const uint8_t *)"by-name", 7));
  /* An OCI process.env list. */
  const char *env[] = {"PATH=/usr/bin", "TOKEN=se://gh/token", "GH_TOKEN=", "EMPTY=", "EQ=a=b"};
  se_string_list *out = NULL;
  CHECK_OK(se_engine_resolve_env(e, env, 5, 0, &out));
  CHECK(se_string_list_len(out) == 5);
  CHECK(strcmp(se_string_list_get(out, 0), "PATH=/usr/bin") == 0);
  CHECK(strcmp(se_string_list_get(out, 1), "TOKEN=ghp_abc") == 0);
  CHECK(strcmp(se_string_list_get(out, 2), "GH_TOKEN=") == 0);
  CHECK(strcmp(se_string_list_get(out, 4), "EQ=a=b") == 0);
  se_string_list_free(out);
  /* Container mode: NAME= is looked up by name; absent stays empty. */
  CHECK_OK(se_engine_resolve_env(e, env, 5, SE_ENV_CONTAINER_MODE, &out));
  CHECK(strcmp(se_string_list_get(out, 2), "GH_TOKEN=by-name") == 0);
  CHECK(strcmp(se_string_list_get(out, 3), "EMPTY=") == 0);
  se_string_list_free(out);
  /* Failures start nothing and say why. */
  const char *missing[] = {"X=se://nope"};
  out = NULL;
  CHECK_STATUS(se_engine_resolve_env(e, missing, 1, 0, &out), SE_STATUS_NOT_FOUND);
  CHECK(out == NULL);
  CHECK(strstr(last_error(), "X: no secret matches nope") != NULL);
  const char *bad[] = {"X=se://a//b"};
  CHECK_STATUS(se_engine_resolve_env(e, bad, 1, 0, &out), SE_STATUS_INVALID_REFERENCE);
  const char *noeq[] = {"NOEQUALS"};
  CHECK_STATUS(se_engine_resolve_env(e, noeq, 1, 0, &out), SE_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(se_engine_resolve_env(e, env, 5, 0x80, &out), SE_STATUS_INVALID_ARGUMENT);
  CHECK_OK(se_engine_resolve_env(e, NULL, 0, 0, &out));
  CHECK(se_string_list_len(out) == 0);
  se_string_list_free(out);
  CHECK_OK(se_engine_set_secret(e, "nul", (const uint8_t *)"a\0b", 3));
  const char *nul[] = {"N=se://nul"};
  CHECK_STATUS(se_engine_resolve_env(e, nul, 1, 0, &out), SE_STATUS_UNREPRESENTABLE);
  se_engine_free(e);
}

static void test_plugins(void) {
  se_engine *e = memory_engine();
  se_plugin_list *plugins = NULL;
  CHECK_OK(se_engine_plugins(e, &plugins));
  CHECK(se_plugin_list_len(plugins) == 1);
  const se_plugin *p = se_plugin_list_get(plugins, 0);
  CHECK(strcmp(se_plugin_name(p), "memory") == 0);
  CHECK(strcmp(se_plugin_pattern(p), "**") == 0);
  CHECK(!se_plugin_configurable(p));
  CHECK(se_plugin_get_state(p) == SE_PLUGIN_RUNNING);
  CHECK(se_plugin_message(p) == NULL);
  se_plugin_list_free(plugins);
  CHECK_STATUS(se_engine_disable_plugin(e, "memory"), SE_STATUS_NOT_CONFIGURABLE);
  CHECK_STATUS(se_engine_enable_plugin(e, "nope"), SE_STATUS_UNKNOWN_PROVIDER);
  se_engine_free(e);
}

static void test_last_error_buffer(void) {
  se_engine *e = memory_engine();
  se_envelope_list *list = NULL;
  CHECK_STATUS(se_engine_get_secrets(e, "absent/id", &list), SE_STATUS_NOT_FOUND);
  size_t full = se_last_error_length();
  CHECK(full > 10);
  char small[8];
  size_t written = 0;
  CHECK_STATUS(se_last_error_message(small, sizeof small, &written), SE_STATUS_BUFFER_TOO_SMALL);
  CHECK(written == 7 && small[7] == '\0');
  char big[256];
  CHECK_OK(se_last_error_message(big, sizeof big, &written));
  CHECK(written == full && strlen(big) == full);
  CHECK_STATUS(se_last_error_message(NULL, 0, &written), SE_STATUS_BUFFER_TOO_SMALL);
  CHECK(written == 0);
  se_engine_free(e);
}

int main(void) {
  test_version_and_status();
  test_validation();
  test_store_and_lookup();
  test_resolve_env();
  test_plugins();
  test_last_error_buffer();
  return done("test_basic");
}
