/* pvlab serve (the dashboard) and pvlab publish (the same pages as static files). */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "reporter/dash_db.h"
#include "reporter/dash_publish.h"
#include "reporter/dash_server.h"
#include "util/proc.h"
#include "util/xalloc.h"

static const char serve_usage[] =
    "usage: pvlab serve [--listen HOST:PORT] [--db PATH] [--threads N] [--max-body-mb N]\n"
    "                   [--lease S] [--no-cache]\n"
    "       pvlab serve [--db PATH] --add-token NAME | --revoke-token NAME\n"
    "\n"
    "Serves the dashboard: the results labs post (pvlab report) as pages (matrix tables with\n"
    "history, nightly regressions, runs with their consoles, bisections with their chart,\n"
    "on-demand requests) and as JSON under /api/v1/. Reads are public; writes need a token.\n"
    "  --listen ADDR       address and port (default 127.0.0.1:8080; port 0: any free one)\n"
    "  --db PATH           the dashboard's database (default <state_dir>/dashboard.db)\n"
    "  --threads N         polling threads (default 2); 0: a thread per connection\n"
    "  --max-body-mb N     largest request body (default 16)\n"
    "  --lease S           how long a worker's claim holds a request (default 600)\n"
    "  --no-cache          render every page on every request\n"
    "  --add-token NAME    make a token for NAME (a lab or a worker), print it once, exit\n"
    "  --revoke-token NAME remove NAME's token, exit\n";

static const char publish_usage[] =
    "usage: pvlab publish --out DIR [--db PATH]\n"
    "\n"
    "Writes the dashboard's pages (index.html, matrix/..., run/..., bisect/...) and its JSON\n"
    "(api/v1/...) as static files with relative links, for any web server.\n";

/* --db, or <state_dir>/dashboard.db; malloc'd. */
static char *db_path(struct cli *c, const char *opt, struct err *e)
{
    if (opt)
        return xstrdup(opt);
    if (cli_config(c, e) < 0)
        return NULL;
    return xasprintf("%s/dashboard.db", c->cfg.state_dir);
}

static int tokens(const char *path, const char *add, const char *revoke)
{
    struct dash_db *db = NULL;
    struct err e = ERR_INIT;
    char *token = NULL;
    int rc = EXIT_ERROR;

    if (dash_db_open(path, &db, &e) < 0)
        goto out;
    if (add) {
        if (dash_token_add(db, add, &token, &e) < 0)
            goto out;
        printf("%s\n", token);
        fprintf(stderr,
                "pvlab serve: token for '%s' (shown once, only its sha256 is kept; set "
                "it as [reporter] token on the lab)\n",
                add);
    } else if (dash_token_revoke(db, revoke, &e) < 0) {
        goto out;
    }
    rc = 0;
out:
    if (rc)
        cli_error(&e);
    free(token);
    dash_db_close(db);
    return rc;
}

int cmd_serve(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "db", required_argument, NULL, 'd' },
        { "threads", required_argument, NULL, 't' },
        { "max-body-mb", required_argument, NULL, 'm' },
        { "lease", required_argument, NULL, 'L' },
        { "no-cache", no_argument, NULL, 'n' },
        { "add-token", required_argument, NULL, 'a' },
        { "revoke-token", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct dash_server_opts so = { "127.0.0.1:8080", NULL, NULL, 0, 2, 0, 0 };
    struct dash_server *s = NULL;
    struct err e = ERR_INIT;
    const char *db_opt = NULL, *add = NULL, *revoke = NULL;
    char *path = NULL;
    long v;
    int opt, rc = EXIT_ERROR;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'l': so.listen = optarg; break;
        case 'd': db_opt = optarg; break;
        case 'n': so.no_cache = 1; break;
        case 'a': add = optarg; break;
        case 'r': revoke = optarg; break;
        case 't':
        case 'm':
        case 'L':
            if (cli_parse_long(opt == 't'   ? "--threads"
                               : opt == 'm' ? "--max-body-mb"
                                            : "--lease",
                               optarg, opt == 't' ? 0 : 1,
                               opt == 't'   ? 64
                               : opt == 'm' ? 1024
                                            : 86400,
                               &v, &e) < 0) {
                cli_error(&e);
                return EXIT_USAGE;
            }
            if (opt == 't')
                so.threads = (int)v;
            else if (opt == 'm')
                so.body_max = (size_t)v << 20;
            else
                so.lease_s = (int)v;
            break;
        case 'h': fputs(serve_usage, stdout); return 0;
        default: fputs(serve_usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc || (add && revoke)) {
        fputs(serve_usage, stderr);
        return EXIT_USAGE;
    }
    path = db_path(c, db_opt, &e);
    if (!path) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    if (add || revoke) {
        rc = tokens(path, add, revoke);
        goto out;
    }
    if (cli_config(c, &e) < 0)
        goto fail;
    so.db_path = path;
    so.repos = c->cfg.repos;
    if (dash_server_start(&so, &s, &e) < 0)
        goto fail;
    {
        /* the host as given, the port as bound (--listen HOST:0 picks one) */
        const char *colon = strrchr(so.listen, ':');
        int hl = (int)(colon - so.listen);
        printf("pvlab serve: listening on http://%.*s:%d/ (database %s)\n", hl ? hl : 9,
               hl ? so.listen : "localhost", dash_server_port(s), path);
    }
    fflush(stdout);
    while (!proc_interrupted())
        poll(NULL, 0, 250);
    fprintf(stderr, "pvlab serve: stopping\n");
    dash_server_stop(s);
    rc = 0;
    goto out;
fail:
    cli_error(&e);
out:
    free(path);
    return rc;
}

int cmd_publish(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "out", required_argument, NULL, 'o' },
        { "db", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct dash_publish_stats st;
    struct dash_db *db = NULL;
    struct err e = ERR_INIT;
    const char *out = NULL, *db_opt = NULL;
    char *path = NULL;
    int opt, rc = EXIT_ERROR;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case 'd': db_opt = optarg; break;
        case 'h': fputs(publish_usage, stdout); return 0;
        default: fputs(publish_usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc || !out) {
        fputs(publish_usage, stderr);
        return EXIT_USAGE;
    }
    path = db_path(c, db_opt, &e);
    if (!path || cli_config(c, &e) < 0 || dash_db_open(path, &db, &e) < 0 ||
        dash_publish(db, c->cfg.repos, out, &st, &e) < 0) {
        cli_error(&e);
        goto out;
    }
    printf("pvlab publish: %ld pages, %ld logs, %ld JSON files in %s\n", st.pages, st.logs, st.json,
           out);
    rc = 0;
out:
    dash_db_close(db);
    free(path);
    return rc;
}
