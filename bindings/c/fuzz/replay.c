/* Runs LLVMFuzzerTestOneInput (c_abi.c) once on every file of each directory given,
 * in name order, and prints how many inputs each directory had. Fails when a
 * directory cannot be read or holds fewer than 10 files (a path that moved would
 * otherwise replay nothing and pass). An input that breaks an invariant aborts the
 * run; its path is printed first.
 *   replay DIR...   e.g. replay bindings/c/fuzz/seeds bindings/c/fuzz/corpus */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MIN_FILES 10

static char current[4096];

static void on_abort(int sig) {
  (void)sig;
  static const char prefix[] = "replay: aborted on ";
  ssize_t ignored = write(STDERR_FILENO, prefix, sizeof prefix - 1);
  ignored = write(STDERR_FILENO, current, strlen(current));
  ignored = write(STDERR_FILENO, "\n", 1);
  (void)ignored;
  signal(SIGABRT, SIG_DFL);
  raise(SIGABRT);
}

/* Reads a whole file; NULL on error. `*size` is its length. */
static uint8_t *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  while (buf != NULL) {
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap) break;
    cap *= 2;
    uint8_t *grown = realloc(buf, cap);
    if (grown == NULL) free(buf);
    buf = grown;
  }
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    free(buf);
    return NULL;
  }
  *size = len;
  return buf;
}

/* Replays the file at `path` when it is a regular file: 1 when replayed, 0 when
 * skipped, -1 on a read error. */
static int replay_file(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  size_t size = 0;
  uint8_t *data = read_file(path, &size);
  if (data == NULL) {
    perror(path);
    return -1;
  }
  snprintf(current, sizeof current, "%s", path);
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return 1;
}

/* Replays every regular file of `dir` (dotfiles aside); the count, or -1 when
 * something cannot be read. */
static long replay_dir(const char *dir) {
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort);
  if (n < 0) {
    perror(dir);
    return -1;
  }
  long count = 0;
  int failed = 0;
  for (int i = 0; i < n; i++) {
    const char *name = names[i]->d_name;
    char path[4096];
    if (name[0] != '.') {
      if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        fprintf(stderr, "replay: path too long: %s/%s\n", dir, name);
        failed = 1;
      } else {
        int r = replay_file(path);
        if (r < 0) failed = 1;
        count += r > 0;
      }
    }
    free(names[i]);
  }
  free(names);
  return failed ? -1 : count;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR...\n", argv[0]);
    return 2;
  }
  signal(SIGABRT, on_abort);
  int status = 0;
  long total = 0;
  for (int i = 1; i < argc; i++) {
    long count = replay_dir(argv[i]);
    if (count < 0) {
      status = 1;
      continue;
    }
    printf("replay: %s: %ld inputs\n", argv[i], count);
    total += count;
    if (count < MIN_FILES) {
      fprintf(stderr, "replay: %s has %ld files, fewer than %d\n", argv[i], count, MIN_FILES);
      status = 1;
    }
  }
  printf("replay: %ld inputs from %d directories%s\n", total, argc - 1, status == 0 ? ", every invariant held" : ", FAILED");
  return status;
}
