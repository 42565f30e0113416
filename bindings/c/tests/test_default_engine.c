/* se_engine_new(NULL): the default engine, as docker-pass has it, against the real
 * keychain of the test run (DBUS_SESSION_BUS_ADDRESS set by scripts/test-c on Linux;
 * the Credential Manager of the Wine prefix of scripts/test-windows on Windows). */
#include "harness.h"

int main(void) {
#ifdef __linux__
  if (getenv("DBUS_SESSION_BUS_ADDRESS") == NULL) {
    fprintf(stderr, "test_default_engine needs DBUS_SESSION_BUS_ADDRESS (scripts/test-c sets it)\n");
    return 1;
  }
#endif
  se_engine *e = NULL;
  CHECK_OK(se_engine_new(NULL, &e));
  se_plugin_list *plugins = NULL;
  CHECK_OK(se_engine_plugins(e, &plugins));
  CHECK(se_plugin_list_len(plugins) >= 1);
  CHECK(strcmp(se_plugin_name(se_plugin_list_get(plugins, 0)), "docker-pass") == 0);
  CHECK(!se_plugin_configurable(se_plugin_list_get(plugins, 0)));
  se_plugin_list_free(plugins);
  CHECK_OK(se_engine_set_secret(e, "ctest/token", (const uint8_t *)"from-c", 6));
  const char *env[] = {"T=se://ctest/token"};
  se_string_list *out = NULL;
  CHECK_OK(se_engine_resolve_env(e, env, 1, 0, &out));
  CHECK(out && strcmp(se_string_list_get(out, 0), "T=from-c") == 0);
  se_string_list_free(out);
  CHECK_OK(se_engine_remove_secret(e, "ctest/token"));
  se_engine_free(e);
  return done("test_default_engine");
}
