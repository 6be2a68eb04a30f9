/* pvlab report: post the results the dashboard has not seen yet (through the spool). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "reporter/client.h"
#include "util/log.h"

static const char usage[] =
    "usage: pvlab report [--to URL] [--json]\n"
    "\n"
    "Posts to the dashboard (pvlab serve) every finished run, matrix and bisection it has not\n"
    "been sent yet, and whatever waits in the spool (<state_dir>/spool), oldest first. When\n"
    "[reporter] url is set, each result is posted as it ends; while the dashboard is down they\n"
    "wait in the spool, and this sends them, each stored once.\n"
    "\n"
    "  --to URL   the dashboard (default: [reporter] url); the token is [reporter] token\n"
    "  --json     print {\"spooled\": N, \"sent\": N, \"left\": N}\n"
    "\n"
    "Exit status: 0 everything sent, 3 some results still wait (the dashboard is down: say\n"
    "why), 2 usage.\n";

int cmd_report(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "to", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct reporter r;
    struct err e = ERR_INIT;
    char lab[256], spool[4096];
    const char *to = NULL;
    int opt, spooled, sent = 0, left = 0, rc;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 't': to = optarg; break;
        case 'j': c->json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "pvlab: error: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (cli_store(c, &e) < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    reporter_init(&c->cfg, to, lab, sizeof(lab), spool, sizeof(spool), &r);
    if (!r.url) {
        err_set(&e, ERR_CONFIG, "no dashboard to post to: give --to URL or set [reporter] url");
        cli_error(&e);
        return EXIT_USAGE;
    }
    spooled = reporter_enqueue_new(&r, c->store, &e);
    if (spooled < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    rc = reporter_flush(&r, &sent, &left, &e);
    if (c->json)
        printf("{\"spooled\":%d,\"sent\":%d,\"left\":%d}\n", spooled, sent, left);
    else
        printf("%d new result%s spooled; %d sent to %s, %d waiting in %s\n", spooled,
               spooled == 1 ? "" : "s", sent, r.url, left, r.spool_dir);
    if (rc < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    return 0;
}

void cli_report(struct cli *c, const char *kind, long long id)
{
    struct reporter r;
    struct err e = ERR_INIT;
    char lab[256], spool[4096];
    int sent, left;

    if (!c->cfg_loaded || !c->cfg.reporter_url || !c->store || id <= 0)
        return;
    reporter_init(&c->cfg, NULL, lab, sizeof(lab), spool, sizeof(spool), &r);
    if (reporter_enqueue(&r, c->store, kind, id, &e) < 0 ||
        reporter_flush(&r, &sent, &left, &e) < 0)
        log_warn("reporter", "%s (the result is kept; 'pvlab report' sends it later)", e.msg);
}
