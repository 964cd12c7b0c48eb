/* config: pool_server's command line, parsed into a struct srv_config.
 *
 * getopt_long: long options as --name VALUE or --name=VALUE, the short
 * aliases -p -w -h -V -v, and the spec's positional PORT. Numbers are
 * digits only, range-checked (base/strnum). --help lists every option,
 * grouped, with its meaning and default, plus the signals and the exit
 * codes. Errors go to stderr as one line naming the option, then the
 * usage line. Not thread-safe (getopt's globals): call it from main.
 */
#ifndef SERVER_CONFIG_H
#define SERVER_CONFIG_H

#include "server/server.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cfg_result {
  CFG_RUN = 0,      /* run the server with *cfg */
  CFG_EXIT_OK = 1,  /* --help or --version was printed: exit 0 */
  CFG_USAGE = 2,    /* a bad command line was reported: exit 2 */
};

/* cfg must hold the defaults (srv_config_defaults) first. */
int cfg_parse(struct srv_config *cfg, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
