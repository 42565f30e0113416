/* The C ABI fed arbitrary bytes: a libFuzzer target (LLVMFuzzerTestOneInput), also
 * driven by replay.c over the committed seeds and corpus (scripts/test-c).
 *
 * The input is NUL-separated arguments: part 0 (`a`) and part 1 (`b`) are the
 * strings passed around, part 1 is also a binary value, parts 2 and 3 a metadata key
 * and value; a missing part is empty. `knob` (the byte sum) picks the resolve_env
 * flags and an error-buffer size. This is the decoding of the former Rust target
 * (secrets_engine::fuzzing::c_abi), so the corpus keeps its meaning.
 *
 * Invariants (abort() when one breaks): no call panics; statuses agree with the
 * validation functions and with what the engine holds; out-pointers are set only on
 * success; last-error messages are short and copy correctly into buffers of any size.
 * Whether se_id_is_valid and friends agree with the Rust parsers is checked on the
 * Rust side (the crate's unit tests and the core's fuzz targets); here they are the
 * oracle, and must at least refuse what is not UTF-8. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secrets_engine.h"

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);          \
      abort();                                                                         \
    }                                                                                  \
  } while (0)

#define KNOWN_ID "fuzz/known"
#define KNOWN_VALUE "KNOWNVALUE"
#define KNOWN_VALUE_LEN (sizeof KNOWN_VALUE - 1)
#define META_ID "fuzz/meta"
#define INTERNAL_REALM "docker/secrets-engine"
/* Longest message an input-derived error may have: the excerpt is at most 128
 * characters, each at most 10 bytes once escaped, plus the reason. */
#define MAX_MESSAGE (128 * 10 + 300)

/* One memory engine for the whole process, never freed: it lives as long as the
 * fuzzer does (reachable from this static, so not a leak). */
static se_engine *engine(void) {
  static se_engine *e;
  if (e == NULL) {
    se_engine_options opts;
    memset(&opts, 0, sizeof opts);
    opts.store = SE_STORE_MEMORY;
    opts.config_path = NULL;
    opts.no_config = true;
    opts.deadline_ms = 5000;
    CHECK(se_engine_new(&opts, &e) == SE_STATUS_OK);
    CHECK(e != NULL);
  }
  return e;
}

static char last_error_buf[4096];

static const char *last_error(void) {
  size_t written = 0;
  se_last_error_message(last_error_buf, sizeof last_error_buf, &written);
  last_error_buf[written] = 0;
  return last_error_buf;
}

/* Strict UTF-8, as Rust's std::str::from_utf8: no overlong forms, no surrogates,
 * nothing above U+10FFFF. */
static bool utf8(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t len;
    uint32_t min;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

/* One NUL-separated argument: a NUL-terminated string inside the input's copy. */
typedef struct {
  const char *s;
  size_t len;
  bool utf8;
} part;

/* The id's components start with those of the engine's internal realm. */
static bool is_internal(const char *id) {
  size_t n = strlen(INTERNAL_REALM);
  return strncmp(id, INTERNAL_REALM, n) == 0 && (id[n] == 0 || id[n] == '/');
}

/* Stateless validation and status strings. */
static void check_validation(part a, part b) {
  bool id_ok = se_id_is_valid(a.s);
  bool pattern_ok = se_pattern_is_valid(a.s);
  bool b_id_ok = se_id_is_valid(b.s);
  if (!a.utf8) CHECK(!id_ok && !pattern_ok);
  /* An id is a pattern matching exactly itself. */
  if (id_ok) CHECK(pattern_ok && se_pattern_matches(a.s, a.s));
  if (se_pattern_matches(a.s, b.s)) CHECK(pattern_ok && b_id_ok);
  /* The first four bytes of part 0 (zero-padded), little-endian, as a status. */
  uint8_t le[4] = {0, 0, 0, 0};
  if (a.len > 0) memcpy(le, a.s, a.len < 4 ? a.len : 4);
  uint32_t status = (uint32_t)le[0] | (uint32_t)le[1] << 8 | (uint32_t)le[2] << 16 | (uint32_t)le[3] << 24;
  CHECK(se_status_str(status) != NULL);
}

/* Lookups by an arbitrary pattern: only the known secret is ever there. */
static void check_lookup(se_engine *e, part a, size_t max_message) {
  CHECK(se_engine_set_secret(e, KNOWN_ID, (const uint8_t *)KNOWN_VALUE, KNOWN_VALUE_LEN) == SE_STATUS_OK);
  se_envelope_list *list = NULL;
  se_status s = se_engine_get_secrets(e, a.s, &list);
  if (!a.utf8) {
    CHECK(s == SE_STATUS_INVALID_UTF8);
    CHECK(strncmp(last_error(), "pattern is not UTF-8", strlen("pattern is not UTF-8")) == 0);
  } else if (!se_pattern_is_valid(a.s)) {
    CHECK(s == SE_STATUS_INVALID_PATTERN);
  } else {
    bool known = se_pattern_matches(a.s, KNOWN_ID);
    CHECK(s == (known ? SE_STATUS_OK : SE_STATUS_NOT_FOUND));
  }
  CHECK((list == NULL) == (s != SE_STATUS_OK));
  if (s == SE_STATUS_OK) {
    CHECK(se_envelope_list_len(list) == 1);
    const se_envelope *env = se_envelope_list_get(list, 0);
    const uint8_t *ptr = NULL;
    size_t len = 0;
    se_envelope_value(env, &ptr, &len);
    CHECK(len == KNOWN_VALUE_LEN && memcmp(ptr, KNOWN_VALUE, len) == 0);
    CHECK(se_envelope_list_get(list, 1) == NULL);
  }
  se_envelope_list_free(list);
  if (s != SE_STATUS_OK) CHECK(se_last_error_length() <= max_message);
}

/* Store, read back, remove: a value of any bytes under any id. */
static void check_store(se_engine *e, part a, part value) {
  se_status s = se_engine_set_secret(e, a.s, (const uint8_t *)value.s, value.len);
  if (!a.utf8) {
    CHECK(s == SE_STATUS_INVALID_UTF8);
  } else if (!se_id_is_valid(a.s)) {
    CHECK(s == SE_STATUS_INVALID_ID);
  } else if (strcmp(a.s, KNOWN_ID) == 0) {
    CHECK(s == SE_STATUS_OK);
  } else {
    CHECK(s == SE_STATUS_OK);
    se_envelope_list *list = NULL;
    s = se_engine_get_secrets(e, a.s, &list);
    if (is_internal(a.s)) {
      CHECK(s == SE_STATUS_NOT_FOUND);
    } else {
      CHECK(s == SE_STATUS_OK);
      const se_envelope *env = se_envelope_list_get(list, 0);
      CHECK(strcmp(se_envelope_id(env), a.s) == 0);
      const uint8_t *ptr = NULL;
      size_t len = 0;
      se_envelope_value(env, &ptr, &len);
      CHECK(len == value.len);
      if (len > 0) CHECK(memcmp(ptr, value.s, len) == 0);
    }
    se_envelope_list_free(list);
    CHECK(se_engine_remove_secret(e, a.s) == SE_STATUS_OK);
    CHECK(se_engine_remove_secret(e, a.s) == SE_STATUS_NOT_FOUND);
  }
}

/* Metadata keys and values of any bytes. */
static void check_metadata(se_engine *e, part k, part v) {
  const char *keys[] = {k.s};
  const char *values[] = {v.s};
  se_status s = se_engine_set_secret_with_metadata(e, META_ID, (const uint8_t *)"v", 1, keys, values, 1);
  bool meta_ok = k.utf8 && v.utf8;
  CHECK(s == (meta_ok ? SE_STATUS_OK : SE_STATUS_INVALID_UTF8));
  if (!meta_ok) return;
  se_envelope_list *list = NULL;
  CHECK(se_engine_get_secrets(e, META_ID, &list) == SE_STATUS_OK);
  const se_envelope *env = se_envelope_list_get(list, 0);
  const char *kp = NULL, *vp = NULL;
  size_t n = se_envelope_metadata_len(env);
  bool found = false;
  for (size_t i = 0; i < n && !found; i++) {
    CHECK(se_envelope_metadata_get(env, i, &kp, &vp) == SE_STATUS_OK);
    found = strcmp(kp, k.s) == 0 && strcmp(vp, v.s) == 0;
  }
  CHECK(found);
  CHECK(se_envelope_metadata_get(env, n, &kp, &vp) == SE_STATUS_INVALID_ARGUMENT);
  se_envelope_list_free(list);
  CHECK(se_engine_remove_secret(e, META_ID) == SE_STATUS_OK);
}

/* An env list of the two arguments: every entry comes back, resolved or as is. */
static void check_env(se_engine *e, part a, part b, uint8_t knob, size_t max_message) {
  const char *entries[] = {a.s, b.s};
  const size_t n = 2;
  int flags = knob % 3;
  se_string_list *out = NULL;
  se_status s = se_engine_resolve_env(e, entries, n, flags, &out);
  CHECK(s != SE_STATUS_PANIC);
  CHECK((out == NULL) == (s != SE_STATUS_OK));
  if (flags == 2) CHECK(s == SE_STATUS_INVALID_ARGUMENT);
  if (s == SE_STATUS_OK) {
    CHECK(se_string_list_len(out) == n);
    for (size_t i = 0; i < n; i++) {
      const char *got = se_string_list_get(out, i);
      const char *entry = entries[i];
      const char *eq = strchr(entry, '=');
      CHECK(eq != NULL);
      size_t name_len = (size_t)(eq - entry) + 1; /* with the '=' */
      CHECK(strncmp(got, entry, name_len) == 0);
      bool as_is = strcmp(got, entry) == 0;
      bool resolved = strcmp(got + name_len, KNOWN_VALUE) == 0;
      CHECK(as_is || resolved);
    }
    CHECK(se_string_list_get(out, n) == NULL);
  } else {
    CHECK(se_last_error_length() <= max_message);
  }
  se_string_list_free(out);
}

/* Listing and plugins by an arbitrary name. */
static void check_list_and_plugins(se_engine *e, part a) {
  se_string_list *ids = NULL;
  se_status s = se_engine_list_secrets(e, a.s, &ids);
  se_status want = !a.utf8 ? SE_STATUS_INVALID_UTF8 : !se_pattern_is_valid(a.s) ? SE_STATUS_INVALID_PATTERN : SE_STATUS_OK;
  CHECK(s == want);
  se_string_list_free(ids);
  s = se_engine_enable_plugin(e, a.s);
  CHECK(s == SE_STATUS_INVALID_UTF8 || s == SE_STATUS_UNKNOWN_PROVIDER || s == SE_STATUS_NOT_CONFIGURABLE);
}

/* The last error copies into a buffer of any size. */
static void check_last_error(uint8_t knob, size_t max_message) {
  size_t total = se_last_error_length();
  CHECK(total <= max_message);
  size_t len = knob % 40;
  char buf[40];
  memset(buf, 0x55, sizeof buf);
  size_t written = SIZE_MAX;
  se_status s = se_last_error_message(len == 0 ? NULL : buf, len, &written);
  size_t room = len == 0 ? 0 : len - 1;
  CHECK(written == (total < room ? total : room));
  CHECK(s == (written < total ? SE_STATUS_BUFFER_TOO_SMALL : SE_STATUS_OK));
  if (len > 0) CHECK(buf[written] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A NUL-terminated copy: each NUL-separated part is then a C string in place. */
  char *copy = malloc(size + 1);
  CHECK(copy != NULL);
  if (size > 0) memcpy(copy, data, size);
  copy[size] = 0;
  part parts[4];
  size_t start = 0;
  for (size_t i = 0; i < 4; i++) {
    if (start <= size) {
      size_t len = strlen(copy + start);
      parts[i] = (part){copy + start, len, utf8((const uint8_t *)copy + start, len)};
      start += len + 1;
    } else {
      parts[i] = (part){"", 0, true};
    }
  }
  uint8_t knob = 0;
  for (size_t i = 0; i < size; i++) knob = (uint8_t)(knob + data[i]);
  /* Messages may name what was passed (a pattern, a provider name), escaped: never
   * more than that. */
  size_t max_message = MAX_MESSAGE + 10 * size;
  se_engine *e = engine();

  check_validation(parts[0], parts[1]);
  check_lookup(e, parts[0], max_message);
  check_store(e, parts[0], parts[1]);
  check_metadata(e, parts[2], parts[3]);
  check_env(e, parts[0], parts[1], knob, max_message);
  check_list_and_plugins(e, parts[0]);
  check_last_error(knob, max_message);

  free(copy);
  return 0;
}
