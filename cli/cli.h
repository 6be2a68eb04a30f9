/* Shared plumbing of the pvlab subcommands: global options, config/store opening, output. */
#ifndef PVLAB_CLI_CLI_H
#define PVLAB_CLI_CLI_H

#include <stddef.h>

#include "config/config.h"
#include "jobs/store.h"
#include "util/err.h"

/* Exit codes of every subcommand except run's verdicts (0 pass / 1 fail / 125 untestable). */
#define EXIT_USAGE 2
#define EXIT_ERROR 3
/* pvlab run: input or setup errors stop `git bisect run` instead of marking a commit. */
#define EXIT_RUN_ERROR 128
/* Interrupted by SIGINT/SIGTERM (128 + SIGINT, as a shell reports it). */
#define EXIT_INTERRUPTED 130

struct cli {
    const char *config_path; /* --config */
    int json;                /* --json */
    int verbose;
    struct config cfg;
    int cfg_loaded;
    struct store *store;
};

int cmd_run(struct cli *c, int argc, char **argv);
int cmd_list(struct cli *c, int argc, char **argv);
int cmd_show(struct cli *c, int argc, char **argv);
int cmd_build(struct cli *c, int argc, char **argv);
int cmd_cache(struct cli *c, int argc, char **argv);
int cmd_bisect(struct cli *c, int argc, char **argv);
int cmd_host(struct cli *c, int argc, char **argv);
int cmd_trial(struct cli *c, int argc, char **argv);
int cmd_matrix(struct cli *c, int argc, char **argv);
int cmd_nightly(struct cli *c, int argc, char **argv);
int cmd_report(struct cli *c, int argc, char **argv);
int cmd_worker(struct cli *c, int argc, char **argv);
int cmd_serve(struct cli *c, int argc, char **argv);
int cmd_publish(struct cli *c, int argc, char **argv);
int cmd_repro(struct cli *c, int argc, char **argv);
/* Posts one finished result ("run", "matrix", "bisect") when [reporter] url is set; a
 * dashboard that is down only costs a warning (the result waits in the spool). */
void cli_report(struct cli *c, const char *kind, long long id);

/* Loads the configuration once. */
int cli_config(struct cli *c, struct err *e);
/* Opens the store at <state_dir>/pvlab.db once (marking runs of dead processes interrupted). */
int cli_store(struct cli *c, struct err *e);
/* Prints "pvlab: error: msg" (plus a hint for the error's code) to stderr. */
void cli_error(const struct err *e);
/* Prints a run (and its trials) as JSON on stdout. */
void cli_print_run_json(const struct run_rec *r, const struct trial_rec *t, size_t nt);
/* Prints a run summary for humans on stdout. */
void cli_print_run_human(const struct run_rec *r, const struct trial_rec *t, size_t nt);
/* Parses an ID argument (1 .. 2^31-1); returns -1 with e set otherwise. */
int cli_parse_id(const char *s, long long *id, struct err *e);
/* Parses a positive integer option value; returns -1 with e set otherwise. */
int cli_parse_long(const char *opt, const char *s, long min, long max, long *out, struct err *e);
/* --fresh-boot-every K (run, bisect, matrix; docs/snapshots.md): 0 .. 1000000 into *out. */
int cli_parse_fresh_every(const char *s, int *out, struct err *e);

#endif
