/* command: the registry and the shared argument checks (see command.h).
 *
 * DESIGN
 * The table is built from server/commands.list by an X-macro, so the list
 * of commands exists once. A request's command word is matched against it
 * case-insensitively by a linear scan: a dozen names, a few nanoseconds,
 * and no second structure to keep in step. The count of arguments is
 * checked here for every command; what the arguments mean is each
 * command's own check(), built from the helpers below (base/strnum for
 * numbers), so errors read the same whatever the command.
 */
#include "server/command.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/strnum.h"

#define CMD(n) extern const struct cmd_def cmd_def_##n;
#include "server/commands.list"
#undef CMD

static const struct cmd_def *const cmd_table[] = {
#define CMD(n) &cmd_def_##n,
#include "server/commands.list"
#undef CMD
};

enum { CMD_N = sizeof cmd_table / sizeof cmd_table[0] };

size_t cmd_count(void) { return CMD_N; }

int cmd_init(void) {
  for (size_t i = 0; i < CMD_N; i++) {
    int rc = cmd_table[i]->init ? cmd_table[i]->init() : 0;
    if (rc < 0) return rc;
  }
  return 0;
}
const struct cmd_def *cmd_at(size_t i) { return i < CMD_N ? cmd_table[i] : NULL; }

size_t cmd_index(const struct cmd_def *def) {
  for (size_t i = 0; i < CMD_N; i++)
    if (cmd_table[i] == def) return i;
  return CMD_N;
}

/* ASCII case-insensitive: does s[0..len) spell the lower-case word w? */
static int cmd_word_is(const char *s, size_t len, const char *w) {
  size_t i = 0;
  for (; i < len && w[i] != '\0'; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != w[i]) return 0;
  }
  return i == len && w[i] == '\0';
}

const struct cmd_def *cmd_find(const char *name, size_t len) {
  for (size_t i = 0; i < CMD_N; i++)
    if (cmd_word_is(name, len, cmd_table[i]->name)) return cmd_table[i];
  return NULL;
}

void cmd_usage_error(const struct cmd_def *def, int resp, char *err, size_t errlen) {
  /* RESP clients get Redis's wording; text users the usage line. */
  if (resp || !def->usage) snprintf(err, errlen, "wrong number of arguments for '%s'", def->name);
  else snprintf(err, errlen, "%s", def->usage);
}

/* Text framing: the rest of the line, split at single spaces into at most
 * max arguments, the last keeping the rest of the line (spaces and all). */
static void cmd_split_text(const struct pr_request *q, int max, struct cmd_args *a) {
  if (q->nargs == 0) return;
  struct pr_span rest = q->arg[0];
  a->n = 0;
  while (max == CMD_ANY || (int)a->n + 1 < max) {
    const char *sp = memchr(rest.p, ' ', rest.len);
    if (!sp || a->n + 1 >= PR_MAX_ARGS) break;
    a->v[a->n].p = rest.p;
    a->v[a->n++].len = (size_t)(sp - rest.p);
    rest.len -= (size_t)(sp - rest.p) + 1;
    rest.p = sp + 1;
  }
  a->v[a->n++] = rest;
}

int cmd_lookup(const struct pr_request *q, const struct cmd_def **def, struct cmd_args *a,
               char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  a->resp = q->resp;
  if (q->empty) {
    snprintf(err, errlen, "%s", "empty line");
    return -ENOENT;
  }
  const struct cmd_def *d = cmd_find(q->cmd.p, q->cmd.len);
  if (!d) {
    char quoted[PR_QUOTE_SIZE];
    pr_quote(quoted, q->cmd.p, q->cmd.len);
    snprintf(err, errlen, "unknown command %s", quoted);
    return -ENOENT;
  }
  if (q->resp) {
    a->n = q->nargs;
    memcpy(a->v, q->arg, sizeof a->v);
  } else if (d->max_args > 1) {
    cmd_split_text(q, d->max_args, a);
  } else {
    a->n = q->nargs;
    a->v[0] = q->arg[0];
  }
  if ((int)a->n < d->min_args || (d->max_args != CMD_ANY && (int)a->n > d->max_args)) {
    cmd_usage_error(d, q->resp, err, errlen);
    return -EINVAL;
  }
  *def = d;
  if (d->check && d->check(a, err, errlen) < 0) return -EINVAL;
  return 0;
}

int cmd_arg_u64(const struct cmd_args *a, size_t i, uint64_t max, uint64_t *out) {
  if (i >= a->n || i >= PR_MAX_ARGS) return -EINVAL;
  return num_parse_u64(a->v[i].p, a->v[i].len, max, out) == 0 ? 0 : -EINVAL;
}

int cmd_check_u64(const struct cmd_args *a, size_t i, uint64_t max, const char *usage, char *err,
                  size_t errlen) {
  uint64_t v;
  if (cmd_arg_u64(a, i, max, &v) == 0) return 0;
  snprintf(err, errlen, "%s", usage);
  return -EINVAL;
}

static int cmd_hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int cmd_arg_hex(const struct cmd_args *a, size_t i, void *out, size_t nbytes) {
  if (i >= a->n || i >= PR_MAX_ARGS || a->v[i].len != 2 * nbytes) return -EINVAL;
  unsigned char *o = out;
  for (size_t k = 0; k < nbytes; k++) {
    int hi = cmd_hexval(a->v[i].p[2 * k]), lo = cmd_hexval(a->v[i].p[2 * k + 1]);
    if (hi < 0 || lo < 0) return -EINVAL;
    o[k] = (unsigned char)(hi << 4 | lo);
  }
  return 0;
}
