/* pvlab matrix run|show|resume|list and pvlab nightly: the regression matrix. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "jobs/matrix.h"
#include "jobs/matrix_report.h"
#include "reporter/client.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/status.h"
#include "util/xalloc.h"

#define DEFAULT_MATRIX PVLAB_TOP "/config/matrix/nightly.conf"

static const char usage[] =
    "usage: pvlab matrix run [FILE] [--jobs N] [--smp N] [--hosts FILE] [--json]\n"
    "       pvlab matrix show [ID|ID,ID,...] [--against previous|ID] [--format text|md|json]\n"
    "                         [--request-bisections [--to URL]]\n"
    "       pvlab matrix resume ID\n"
    "       pvlab matrix list [NAME]\n"
    "       pvlab matrix check [FILE] [--json]\n"
    "       pvlab nightly [FILE]      (run, then show against the last complete run)\n"
    "\n"
    "Runs every cell (Xen x Linux x reproducer) of a matrix file (default\n"
    "config/matrix/nightly.conf; format in docs/matrix.md), each cell a run of its own whose\n"
    "trials are queued in the store and run N at once. Artifacts are fetched or built once and\n"
    "shared. An infra result is retried up to 3 times (counted apart). A crash or Ctrl-C loses\n"
    "nothing: 'pvlab matrix resume ID' runs what is left, repeating no trial. 'check' checks a\n"
    "file without fetching or building: every spec and reproducer, and each git: spec against\n"
    "the file's [sources] (commit and tree; sources not cloned here are listed, exit 1).\n"
    "\n"
    "  --jobs N             trials at once (default: the host's cores)\n"
    "  --smp N              guest vCPUs per trial (default: cores / jobs, at least 1)\n"
    "  --hosts FILE         run the trials on these hosts through GNU parallel over ssh\n"
    "                       (its --sshloginfile format; ':' is this host)\n"
    "  --remote-pvlab PATH  pvlab on those hosts (default: pvlab in their PATH)\n"
    "  --only 'xen=G linux=G repro=G'  run only the matching cells (shell globs on labels,\n"
    "                       G1|G2 for either)\n"
    "  --self-test-corrupt R [--in-cells 'xen=G linux=G repro=G']\n"
    "                       detector self-test in the matching cells (a positive control)\n"
    "  --timeout S          per-trial limit (default: from the boot and run timeouts)\n"
    "  --fresh-boot-every K snapshot trials per cell, as pvlab run's (default [run]\n"
    "                       fresh_boot_every; resume: as recorded; --hosts: every trial boots)\n"
    "  --against previous|ID  compare with the last complete run of the same name, or ID\n"
    "  --format text|md|json  the table for a terminal, to publish, or for the dashboard\n"
    "  show ID,ID,...       one table from several runs of one matrix file (e.g. slices run\n"
    "                       with --only): a cell run in several shows the last named\n"
    "  --request-bisections   ask the dashboard ([reporter] url, or --to URL) to bisect each\n"
    "                       REGRESSION or FIXED cell whose cause is one changed image, on the\n"
    "                       axis the matrix file's [bisect] names a repository for; nightly\n"
    "                       does this whenever a dashboard is configured\n"
    "\n"
    "Exit status: 0 done (run, nightly: and no REGRESSION), 1 a REGRESSION (nightly),\n"
    "2 usage, 3 errors, 128 setup errors (a host that cannot start QEMU), 130 interrupted.\n";

struct mui {
    struct status st;
};

static void on_stage(void *ctx, const char *stage, const char *detail)
{
    struct mui *u = ctx;
    if (!strcmp(stage, "accel") || !strcmp(stage, "matrix"))
        status_print(&u->st, "%s%s%s", !strcmp(stage, "matrix") ? "matrix " : "", detail, "");
    else
        status_update(&u->st, stage, "%s", detail ? detail : "");
}

static void on_progress(void *ctx, const struct matrix_progress *p)
{
    struct mui *u = ctx;
    char eta[32] = "?";

    if (isfinite(p->eta_s))
        snprintf(eta, sizeof(eta), "%.0f min", p->eta_s / 60);
    if (p->last)
        status_print(&u->st, "%s", p->last);
    status_update(&u->st, "matrix",
                  "%ld done, %ld running, %ld queued, %ld infra retried; "
                  "ETA %s",
                  p->done, p->running, p->queued, p->infra_retries, eta);
}

/* Prints the report of ids[0..n) (one table) in format against another run (0 none, -1
 * previous). */
static int show_many(struct cli *c, const long long *ids, size_t n, long long against,
                     const char *format, int *regressions_r)
{
    struct matrix_report rep;
    struct buf out = BUF_INIT;
    struct err e = ERR_INIT;

    if (matrix_report_build_many(c->store, ids, n, against, &rep, &e) < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    if (!strcmp(format, "json"))
        matrix_report_json(&rep, &out);
    else if (!strcmp(format, "md"))
        matrix_report_md(&rep, &out);
    else
        matrix_report_text(&rep, &out);
    fputs(out.data, stdout);
    if (!strcmp(format, "json"))
        fputs("\n", stdout);
    if (regressions_r)
        *regressions_r = (int)rep.changes[CHANGE_REGRESSION];
    buf_release(&out);
    matrix_report_free(&rep);
    return 0;
}

static int show(struct cli *c, long long id, long long against, const char *format,
                int *regressions_r)
{
    return show_many(c, &id, 1, against, format, regressions_r);
}

/* "5" or "5,7,9": one or several matrix runs, one table */
static int parse_ids(const char *arg, long long **ids, size_t *n, struct err *e)
{
    char *copy = xstrdup(arg), *save = NULL;
    int rc = 0;

    *ids = NULL;
    *n = 0;
    for (char *t = strtok_r(copy, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save)) {
        *ids = xrealloc(*ids, (*n + 1) * sizeof(**ids));
        rc = cli_parse_id(t, &(*ids)[*n], e);
        (*n)++;
    }
    if (rc == 0 && !*n) {
        err_set(e, ERR_USAGE, "'%s': expected a matrix ID, or several as ID,ID,...", arg);
        rc = -1;
    }
    free(copy);
    return rc;
}

static void say_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

/* Asks the dashboard to bisect the changes of matrix id that name their bisection. */
static int request_bisections(struct cli *c, long long id, long long against, const char *to)
{
    struct matrix_report rep;
    struct reporter r;
    struct err e = ERR_INIT;
    char lab[256], spool[4096];
    int n;

    reporter_init(&c->cfg, to, lab, sizeof(lab), spool, sizeof(spool), &r);
    if (matrix_report_build(c->store, id, against, &rep, &e) < 0) {
        cli_error(&e);
        return -1;
    }
    n = reporter_request_bisections(&r, &rep, say_line, NULL, &e);
    if (n < 0)
        log_warn("matrix", "no bisection requested: %s", e.msg);
    matrix_report_free(&rep);
    return n;
}

static int list(struct cli *c, const char *name)
{
    struct matrix_rec *v = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;

    if (store_matrix_list(c->store, name, 50, &v, &n, &e) < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    if (c->json) {
        printf("[");
        for (size_t i = 0; i < n; i++)
            printf("%s{\"id\":%lld,\"name\":\"%s\",\"status\":\"%s\",\"done\":%ld,\"queued\":%ld}",
                   i ? "," : "", v[i].id, v[i].name, v[i].status, v[i].done,
                   v[i].queued + v[i].leased);
        printf("]\n");
    } else {
        if (!n)
            printf("no matrix runs yet; try 'pvlab matrix run'\n");
        else
            printf("%-5s %-20s %-12s %-12s %s\n", "ID", "CREATED", "NAME", "STATUS", "TRIALS");
        for (size_t i = 0; i < n; i++)
            printf("%-5lld %-20s %-12s %-12s %ld/%ld\n", v[i].id, v[i].created, v[i].name,
                   v[i].status, v[i].done, v[i].done + v[i].queued + v[i].leased);
    }
    matrix_recs_free(v, n);
    return 0;
}

static int exit_for(const struct err *e)
{
    if (e->code == ERR_INTERRUPTED || proc_interrupted())
        return EXIT_INTERRUPTED;
    if (e->code == ERR_HOST)
        return EXIT_RUN_ERROR;
    if (e->code == ERR_USAGE || e->code == ERR_CONFIG || e->code == ERR_NOTFOUND)
        return EXIT_USAGE;
    return EXIT_ERROR;
}

/* `pvlab matrix check [FILE]`: every spec, reproducer and source, nothing fetched or built. */
static int check(struct cli *c, const char *file)
{
    struct matrix_check mc = MATRIX_CHECK_INIT;
    struct err e = ERR_INIT;
    int ok = matrix_check_file(file, &mc, &e) == 0, rc;

    if (c->json) {
        struct buf b = BUF_INIT;
        struct jw w;
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kv_s(&w, "file", file);
        jw_kv_bool(&w, "ok", ok && !mc.missing.n);
        if (!ok)
            jw_kv_s(&w, "error", e.msg);
        jw_kv_int(&w, "cells", (long long)mc.cells);
        jw_kv_int(&w, "xen", (long long)mc.xen);
        jw_kv_int(&w, "linux", (long long)mc.linux_);
        jw_kv_int(&w, "repro", (long long)mc.repro);
        jw_kv_int(&w, "sources", (long long)mc.sources);
        jw_kv_int(&w, "sources_verified", (long long)mc.verified);
        jw_key(&w, "not_cloned");
        jw_arr(&w);
        for (size_t i = 0; i < mc.missing.n; i++)
            jw_s(&w, mc.missing.v[i]);
        jw_end(&w);
        jw_key(&w, "unused_sources");
        jw_arr(&w);
        for (size_t i = 0; i < mc.unused.n; i++)
            jw_s(&w, mc.unused.v[i]);
        jw_end(&w);
        jw_end(&w);
        puts(b.data);
        buf_release(&b);
    } else if (ok) {
        printf("%s: %zu cells (%zu xen x %zu linux x %zu repro, less exclusions); every spec "
               "and reproducer resolves\n",
               file, mc.cells, mc.xen, mc.linux_, mc.repro);
        if (mc.sources)
            printf("sources: %zu recorded, %zu cloned here with the recorded tree, %zu not "
                   "cloned here\n",
                   mc.sources, mc.verified, mc.missing.n);
        for (size_t i = 0; i < mc.missing.n; i++)
            printf("  not cloned: %s\n", mc.missing.v[i]);
        for (size_t i = 0; i < mc.unused.n; i++)
            printf("  unused source: %s\n", mc.unused.v[i]);
    }
    if (!ok && !c->json)
        cli_error(&e);
    rc = !ok ? exit_for(&e) : mc.missing.n ? 1 : 0;
    matrix_check_free(&mc);
    return rc;
}

/* `pvlab matrix SUB ...` and `pvlab nightly ...` (nightly = 1). */
static int matrix_main(struct cli *c, int argc, char **argv, int nightly)
{
    enum {
        O_JOBS = 256,
        O_SMP,
        O_HOSTS,
        O_REMOTE,
        O_SELF,
        O_CELLS,
        O_ONLY,
        O_TIMEOUT,
        O_AGAINST,
        O_FORMAT,
        O_JSON,
        O_REQUEST,
        O_TO,
        O_FRESH
    };
    static const struct option opts[] = {
        { "jobs", required_argument, NULL, O_JOBS },
        { "smp", required_argument, NULL, O_SMP },
        { "hosts", required_argument, NULL, O_HOSTS },
        { "remote-pvlab", required_argument, NULL, O_REMOTE },
        { "self-test-corrupt", required_argument, NULL, O_SELF },
        { "in-cells", required_argument, NULL, O_CELLS },
        { "only", required_argument, NULL, O_ONLY },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "fresh-boot-every", required_argument, NULL, O_FRESH },
        { "against", required_argument, NULL, O_AGAINST },
        { "format", required_argument, NULL, O_FORMAT },
        { "json", no_argument, NULL, O_JSON },
        { "request-bisections", no_argument, NULL, O_REQUEST },
        { "to", required_argument, NULL, O_TO },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct matrix_request rq;
    struct matrix_events ev = { on_stage, on_progress, NULL };
    struct mui u;
    struct err e = ERR_INIT;
    const char *sub = nightly ? "nightly" : NULL, *format = "text", *against_s = NULL;
    const char *to = NULL;
    int request = 0;
    long long id = 0, against = 0;
    long v;
    int opt, rc = EXIT_ERROR, regressions = 0;

    memset(&rq, 0, sizeof(rq));
    rq.fresh_every = -1;
    if (!nightly) {
        if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
            fputs(usage, argc < 2 ? stderr : stdout);
            return argc < 2 ? EXIT_USAGE : 0;
        }
        sub = argv[1];
        argc--;
        argv++;
    }
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case O_JOBS:
        case O_SMP:
            if (cli_parse_long(opt == O_JOBS ? "--jobs" : "--smp", optarg, 1, 64, &v, &e) < 0)
                goto usage_err;
            *(opt == O_JOBS ? &rq.jobs : &rq.smp) = (int)v;
            break;
        case O_HOSTS: rq.hosts_file = optarg; break;
        case O_REMOTE: rq.remote_pvlab = optarg; break;
        case O_SELF: {
            char *end;
            rq.self_test_corrupt = strtod(optarg, &end);
            if (*end || !(rq.self_test_corrupt > 0 && rq.self_test_corrupt <= 1)) {
                err_set(&e, ERR_USAGE, "--self-test-corrupt expects a rate in (0, 1], got '%s'",
                        optarg);
                goto usage_err;
            }
            break;
        }
        case O_CELLS: rq.self_test_cells = optarg; break;
        case O_ONLY: rq.only_cells = optarg; break;
        case O_TIMEOUT:
            if (cli_parse_long("--timeout", optarg, 1, 86400 * 7, &v, &e) < 0)
                goto usage_err;
            rq.trial_timeout_s = (int)v;
            break;
        case O_FRESH:
            if (cli_parse_fresh_every(optarg, &rq.fresh_every, &e) < 0)
                goto usage_err;
            break;
        case O_AGAINST: against_s = optarg; break;
        case O_FORMAT:
            if (strcmp(optarg, "text") && strcmp(optarg, "md") && strcmp(optarg, "json")) {
                err_set(&e, ERR_USAGE, "--format takes text, md or json, not '%s'", optarg);
                goto usage_err;
            }
            format = optarg;
            break;
        case O_JSON:
            format = "json";
            c->json = 1;
            break;
        case O_REQUEST: request = 1; break;
        case O_TO: to = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (against_s && strcmp(against_s, "previous") && cli_parse_id(against_s, &against, &e) < 0)
        goto usage_err;
    if (against_s && !strcmp(against_s, "previous"))
        against = -1;
    if (!strcmp(sub, "check")) {
        const char *file = optind < argc ? argv[optind++] : DEFAULT_MATRIX;
        if (optind < argc) {
            err_set(&e, ERR_USAGE, "unexpected argument '%s'", argv[optind]);
            goto usage_err;
        }
        return check(c, file);
    }
    if (cli_store(c, &e) < 0 || store_matrix_mark_stale(c->store, &e) < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    status_init(&u.st, 1);
    ev.ctx = &u;
    if (!strcmp(sub, "run") || !strcmp(sub, "nightly")) {
        rq.file = optind < argc ? argv[optind++] : DEFAULT_MATRIX;
        if (optind < argc) {
            err_set(&e, ERR_USAGE, "unexpected argument '%s'", argv[optind]);
            goto usage_err;
        }
        if (matrix_start(&c->cfg, c->config_path, c->store, &rq, &ev, &id, &e) < 0) {
            status_done(&u.st);
            cli_error(&e);
            if (id)
                fprintf(stderr, "matrix %lld kept; continue with: pvlab matrix resume %lld\n", id,
                        id);
            return exit_for(&e);
        }
        status_done(&u.st);
        rc = show(c, id, nightly ? -1 : against, format, &regressions);
        cli_report(c, "matrix", id);
        /* nightly: a change with a bisection to find it becomes a request on the dashboard */
        if (rc == 0 && (request || (nightly && (to || c->cfg.reporter_url))))
            request_bisections(c, id, nightly ? -1 : against, to);
        if (rc == 0 && nightly && regressions)
            rc = 1;
        return rc;
    }
    if (!strcmp(sub, "resume")) {
        if (optind != argc - 1 || cli_parse_id(argv[optind], &id, &e) < 0) {
            if (!e.msg[0])
                err_set(&e, ERR_USAGE, "pvlab matrix resume needs one matrix ID");
            goto usage_err;
        }
        if (matrix_resume(&c->cfg, c->config_path, c->store, id, &rq, &ev, &e) < 0) {
            status_done(&u.st);
            cli_error(&e);
            return exit_for(&e);
        }
        status_done(&u.st);
        rc = show(c, id, against, format, NULL);
        cli_report(c, "matrix", id);
        return rc;
    }
    if (!strcmp(sub, "show")) {
        if (optind < argc && strchr(argv[optind], ',')) { /* several runs, one table */
            long long *ids = NULL;
            size_t n = 0;
            if (request)
                err_set(&e, ERR_USAGE, "--request-bisections takes one matrix run");
            if (request || parse_ids(argv[optind], &ids, &n, &e) < 0) {
                free(ids);
                goto usage_err;
            }
            rc = show_many(c, ids, n, against, format, NULL);
            free(ids);
            return rc;
        }
        if (optind < argc) {
            if (cli_parse_id(argv[optind], &id, &e) < 0)
                goto usage_err;
        } else {
            struct matrix_rec *v1 = NULL;
            size_t n = 0;
            if (store_matrix_list(c->store, NULL, 1, &v1, &n, &e) < 0) {
                cli_error(&e);
                return EXIT_ERROR;
            }
            id = n ? v1[0].id : 0;
            matrix_recs_free(v1, n);
            if (!id) {
                err_set(&e, ERR_NOTFOUND, "no matrix runs yet; try 'pvlab matrix run'");
                cli_error(&e);
                return EXIT_ERROR;
            }
        }
        rc = show(c, id, against, format, NULL);
        if (rc == 0 && request)
            request_bisections(c, id, against, to);
        return rc;
    }
    if (!strcmp(sub, "list"))
        return list(c, optind < argc ? argv[optind] : NULL);
    err_set(&e, ERR_USAGE, "unknown matrix command '%s'; commands: run, check, show, resume, list",
            sub);
usage_err:
    cli_error(&e);
    return EXIT_USAGE;
}

int cmd_matrix(struct cli *c, int argc, char **argv)
{
    return matrix_main(c, argc, argv, 0);
}

int cmd_nightly(struct cli *c, int argc, char **argv)
{
    return matrix_main(c, argc, argv, 1);
}
