/* Per-call time of se_engine_get_secrets + se_envelope_list_free from C against an
 * in-memory store. Prints "c_abi_get_secrets <ns per call>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "secrets_engine.h"

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  se_engine_options o;
  memset(&o, 0, sizeof o);
  o.store = SE_STORE_MEMORY;
  o.no_config = true;
  se_engine *e = NULL;
  if (se_engine_new(&o, &e) != SE_STATUS_OK) return 1;
  se_engine_set_secret(e, "bench/secret", (const uint8_t *)"value", 5);
  double best = 1e18;
  for (int round = 0; round < 5; round++) {
    double start = now_ns();
    for (long i = 0; i < n; i++) {
      se_envelope_list *list = NULL;
      if (se_engine_get_secrets(e, "bench/secret", &list) != SE_STATUS_OK || se_envelope_list_len(list) != 1) return 2;
      se_envelope_list_free(list);
    }
    double per = (now_ns() - start) / n;
    if (per < best) best = per;
  }
  printf("c_abi_get_secrets %.0f\n", best);
  se_engine_free(e);
  return 0;
}
