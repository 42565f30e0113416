/* se_engine_resolve_env_with: an allow-list of patterns, the cap on distinct
 * references, and the internal realm, from C. */
#include "harness.h"

static void test_allow_list(void) {
  se_engine *e = memory_engine();
  CHECK_OK(se_engine_set_secret(e, "ci/token", (const uint8_t *)"ci-value", 8));
  CHECK_OK(se_engine_set_secret(e, "prod/db", (const uint8_t *)"prod-value", 10));
  const char *allow[] = {"ci/**"};
  se_env_options o = {0};
  o.flags = SE_ENV_RESTRICT;
  o.allow = allow;
  o.allow_len = 1;
  const char *ok[] = {"A=se://ci/token", "P=/bin"};
  se_string_list *out = NULL;
  CHECK_OK(se_engine_resolve_env_with(e, ok, 2, &o, &out));
  CHECK(strcmp(se_string_list_get(out, 0), "A=ci-value") == 0);
  CHECK(strcmp(se_string_list_get(out, 1), "P=/bin") == 0);
  se_string_list_free(out);
  /* An image's own ENV naming a secret outside the allow-list. */
  const char *image[] = {"A=se://ci/token", "STOLEN=se://prod/db"};
  out = NULL;
  CHECK_STATUS(se_engine_resolve_env_with(e, image, 2, &o, &out), SE_STATUS_PERMISSION_DENIED);
  CHECK(out == NULL);
  CHECK(strstr(last_error(), "STOLEN: se://prod/db is not allowed") != NULL);
  /* No pattern: every reference refused; container mode's NAME= stays empty. */
  o.allow_len = 0;
  o.allow = NULL;
  CHECK_STATUS(se_engine_resolve_env_with(e, ok, 1, &o, &out), SE_STATUS_PERMISSION_DENIED);
  o.flags = SE_ENV_RESTRICT | SE_ENV_CONTAINER_MODE;
  CHECK_OK(se_engine_set_secret(e, "GH_TOKEN", (const uint8_t *)"by-name", 7));
  const char *byname[] = {"GH_TOKEN="};
  CHECK_OK(se_engine_resolve_env_with(e, byname, 1, &o, &out));
  CHECK(strcmp(se_string_list_get(out, 0), "GH_TOKEN=") == 0);
  se_string_list_free(out);
  /* NULL options are the defaults. */
  CHECK_OK(se_engine_resolve_env_with(e, image, 2, NULL, &out));
  CHECK(strcmp(se_string_list_get(out, 1), "STOLEN=prod-value") == 0);
  se_string_list_free(out);
  /* The internal realm, whatever the options. */
  const char *internal[] = {"V=se://docker/secrets-engine/vault/token"};
  CHECK_STATUS(se_engine_resolve_env_with(e, internal, 1, NULL, &out), SE_STATUS_PERMISSION_DENIED);
  CHECK_STATUS(se_engine_resolve_env(e, internal, 1, 0, &out), SE_STATUS_PERMISSION_DENIED);
  /* Unknown flag bits. */
  o.flags = 0x80;
  CHECK_STATUS(se_engine_resolve_env_with(e, ok, 1, &o, &out), SE_STATUS_INVALID_ARGUMENT);
  se_engine_free(e);
}

static void test_cap(void) {
  se_engine *e = memory_engine();
  enum { N = 10000 };
  static char storage[N][32];
  static const char *env[N];
  for (int i = 0; i < N; i++) {
    snprintf(storage[i], sizeof storage[i], "V%d=se://refs/r%d", i, i);
    env[i] = storage[i];
  }
  se_string_list *out = NULL;
  CHECK_STATUS(se_engine_resolve_env(e, env, N, 0, &out), SE_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "more than 256 distinct") != NULL);
  se_env_options o = {0};
  o.max_references = 3;
  CHECK_STATUS(se_engine_resolve_env_with(e, env, 4, &o, &out), SE_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "more than 3 distinct") != NULL);
  se_engine_free(e);
}

int main(void) {
  test_allow_list();
  test_cap();
  return done("test_env_options");
}
