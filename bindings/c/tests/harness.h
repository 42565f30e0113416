/* A minimal test harness: CHECK counts, DONE prints "N passed, M failed". */
#ifndef HARNESS_H
#define HARNESS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "secrets_engine.h"

static int passed, failed;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (cond) {                                                                  \
      passed++;                                                                  \
    } else {                                                                     \
      failed++;                                                                  \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
    }                                                                            \
  } while (0)

#define CHECK_STATUS(call, want)                                                 \
  do {                                                                           \
    se_status got_ = (call);                                                     \
    if (got_ == (want)) {                                                        \
      passed++;                                                                  \
    } else {                                                                     \
      failed++;                                                                  \
      fprintf(stderr, "%s:%d: %s returned %d (%s), want %d: %s\n", __FILE__,     \
              __LINE__, #call, (int)got_, se_status_str((uint32_t)got_),         \
              (int)(want), last_error());                                        \
    }                                                                            \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, SE_STATUS_OK)

static inline const char *last_error(void) {
  static _Thread_local char buf[1024];
  size_t written = 0;
  se_last_error_message(buf, sizeof buf, &written);
  return buf;
}

static inline int done(const char *name) {
  printf("%s: %d passed, %d failed\n", name, passed, failed);
  return failed == 0 ? 0 : 1;
}

static inline se_engine *memory_engine(void) {
  se_engine_options o;
  memset(&o, 0, sizeof o);
  o.store = SE_STORE_MEMORY;
  o.no_config = true;
  se_engine *e = NULL;
  if (se_engine_new(&o, &e) != SE_STATUS_OK) {
    fprintf(stderr, "cannot create engine: %s\n", last_error());
    exit(2);
  }
  return e;
}
#endif
