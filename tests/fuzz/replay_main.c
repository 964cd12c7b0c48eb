/* replay_main: runs a fuzz target's LLVMFuzzerTestOneInput over files, for
 * builds without libFuzzer (gcc, TSan, Helgrind...): the replay tests feed
 * it the checked-in corpus in every configuration, so a regression input
 * fails everywhere, not only under --config=fuzz.
 *
 *   replay FILE|DIR...   each file, and each regular file directly in each
 *                        DIR (sorted by name); arguments starting with '-'
 *                        (libFuzzer flags) are ignored.
 *
 * Each input is read into a heap block of exactly its size. The name of each
 * input is printed before it runs, so the last name in a crash's log is the
 * culprit. Exits 1 if no input was found (an empty corpus proves nothing);
 * a failing input aborts, as under libFuzzer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *path) {
  fprintf(stderr, "replay: %s: %s: %s\n", what, path, strerror(errno));
  exit(2);
}

static void run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    die("cannot open", path);
  struct stat st;
  if (fstat(fileno(f), &st) != 0)
    die("cannot stat", path);
  size_t size = (size_t)st.st_size;
  uint8_t *data = malloc(size ? size : 1);
  if (data == NULL)
    die("out of memory for", path);
  if (size > 0 && fread(data, 1, size, f) != size)
    die("cannot read", path);
  fclose(f);
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
  LLVMFuzzerTestOneInput(data, size);
  free(data);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the regular files directly in dir; returns how many. */
static size_t run_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL)
    die("cannot open", dir);
  char **paths = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
    char *p = malloc(len);
    if (p == NULL)
      die("out of memory in", dir);
    snprintf(p, len, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(p, &st) != 0)
      die("cannot stat", p);
    if (!S_ISREG(st.st_mode)) {
      free(p);
      continue;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **q = realloc(paths, cap * sizeof *q);
      if (q == NULL)
        die("out of memory in", dir);
      paths = q;
    }
    paths[n++] = p;
  }
  closedir(d);
  if (n > 0)
    qsort(paths, n, sizeof *paths, by_name);
  for (size_t i = 0; i < n; i++) {
    run_file(paths[i]);
    free(paths[i]);
  }
  free(paths);
  return n;
}

int main(int argc, char **argv) {
  size_t n = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (argv[i][0] == '-')
      continue;
    if (stat(argv[i], &st) != 0)
      die("cannot stat", argv[i]);
    if (S_ISDIR(st.st_mode)) {
      n += run_dir(argv[i]);
    } else {
      run_file(argv[i]);
      n++;
    }
  }
  if (n == 0) {
    fprintf(stderr, "replay: no inputs given\n");
    return 1;
  }
  printf("replay: %zu inputs, every one passed\n", n);
  return 0;
}
