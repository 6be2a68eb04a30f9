/* pvlab worker: run the dashboard's on-demand bisection requests on this lab. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "reporter/worker.h"
#include "util/proc.h"

static const char usage[] =
    "usage: pvlab worker [--to URL] [--once] [--poll S] [--max N] [--json]\n"
    "\n"
    "Takes on-demand bisection requests from the dashboard (pvlab serve) and runs each here as a\n"
    "pvlab bisection: claims one (POST /api/v1/requests/claim, with [reporter] token), runs it,\n"
    "posts its progress while it runs and its outcome with the bisection's report at the end,\n"
    "then claims the next. A request names its repository by alias only: the path comes from\n"
    "this lab's [repos] (and a test command from [repo_test]); a request naming an alias this lab\n"
    "does not have is refused with the reason. After a crash or Ctrl-C the request comes back\n"
    "when its lease ends, and this lab resumes its stored bisection rather than starting over.\n"
    "\n"
    "  --to URL   the dashboard (default: [reporter] url)\n"
    "  --once     handle at most one request, then exit (none queued: exit at once)\n"
    "  --poll S   seconds between claims while the queue is empty (default 30)\n"
    "  --max N    exit after N requests\n"
    "  --json     print {\"handled\": N} at the end\n"
    "\n"
    "Exit status: 0 done (the queue was empty with --once, or --max reached), 3 errors (no\n"
    "dashboard with --once, a refused token), 2 usage, 130 interrupted.\n";

static void on_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

int cmd_worker(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "to", required_argument, NULL, 't' },
        { "once", no_argument, NULL, '1' },
        { "poll", required_argument, NULL, 'p' },
        { "max", required_argument, NULL, 'm' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct worker_opts o = { 0 };
    struct worker_events ev = { on_line, NULL };
    struct reporter r;
    struct err e = ERR_INIT;
    char lab[256], spool[4096];
    const char *to = NULL;
    long v;
    int opt, n;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 't': to = optarg; break;
        case '1': o.once = 1; break;
        case 'p':
            if (cli_parse_long("--poll", optarg, 1, 86400, &v, &e) < 0)
                goto usage_err;
            o.poll_s = (int)v;
            break;
        case 'm':
            if (cli_parse_long("--max", optarg, 1, 1000000, &v, &e) < 0)
                goto usage_err;
            o.max_requests = v;
            break;
        case 'j': c->json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        err_set(&e, ERR_USAGE, "unexpected argument '%s'", argv[optind]);
        goto usage_err;
    }
    if (cli_store(c, &e) < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    reporter_init(&c->cfg, to, lab, sizeof(lab), spool, sizeof(spool), &r);
    n = worker_run(&c->cfg, c->config_path, c->store, &r, &o, &ev, &e);
    if (n < 0) {
        cli_error(&e);
        return e.code == ERR_INTERRUPTED ? EXIT_INTERRUPTED
               : e.code == ERR_CONFIG    ? EXIT_USAGE
                                         : EXIT_ERROR;
    }
    if (c->json)
        printf("{\"handled\":%d}\n", n);
    else
        printf("%d request%s handled\n", n, n == 1 ? "" : "s");
    return 0;
usage_err:
    cli_error(&e);
    return EXIT_USAGE;
}
