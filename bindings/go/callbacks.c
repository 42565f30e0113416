// C shims for Go providers: the callback table needs exact C signatures, which
// cgo's exported Go functions do not have (const qualifiers).
#include "secrets_engine.h"
#include "_cgo_export.h"

int se_go_get_secrets(void *userdata, const char *pattern, se_results *results) {
  return goGetSecrets(userdata, (char *)pattern, results);
}

void se_go_free_userdata(void *userdata) { goFreeUserdata(userdata); }
