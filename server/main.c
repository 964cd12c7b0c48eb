/* pool_server: the command line (server/config.c), the log's destination
 * and format, then the server (server/server.c) until SIGTERM or SIGINT.
 * Exit status: 0 after a clean shutdown, 1 if start-up failed, 2 for a bad
 * command line. */
#include <stdio.h>
#include <string.h>

#include "server/config.h"
#include "server/log.h"
#include "server/server.h"

int main(int argc, char **argv) {
  struct srv_config cfg;
  srv_config_defaults(&cfg);
  int rc = cfg_parse(&cfg, argc, argv);
  if (rc == CFG_EXIT_OK) return 0;
  if (rc == CFG_USAGE) return 2;
  lg_set_level((enum lg_level)cfg.log_level);
  lg_set_format(cfg.log_format == SRV_LOG_JSON ? LG_JSON : LG_TEXT);
  if (cfg.log_file && (rc = lg_open(cfg.log_file)) < 0) {
    fprintf(stderr, "pool_server: cannot open --log-file '%s': %s\n", cfg.log_file,
            strerror(-rc));
    return 1;
  }
  rc = srv_run(&cfg);
  lg_close();
  return rc;
}
