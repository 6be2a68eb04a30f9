/* pvlab bisect start|status|log|resume|stop: flaky-aware bisection with durable state. */
#include <getopt.h>
#include <sys/stat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "images/plugin.h"
#include "jobs/bisect_run.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/status.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: pvlab bisect start --good REV --bad REV (--test-cmd CMD | --axis linux|xen) [options]\n"
    "       pvlab bisect status [ID] | log ID | resume ID | stop ID\n"
    "\n"
    "Finds the commit where corruption appears (--find regression, the default: good is older)\n"
    "or disappears (--find fix: bad is older), with a flaky reproducer: a Bayesian posterior over\n"
    "the culprit, the next commit chosen by expected information gain, stopping at the stated\n"
    "confidence. Checks first that the bad end fails and the good end passes, and re-tests the\n"
    "answer and its parent at the end. Every trial is stored: after a crash, 'resume ID'.\n"
    "\n"
    "A trial:\n"
    "  --test-cmd CMD      run CMD (by sh, with your environment) in a worktree at the commit,\n"
    "                      the commit as $1 (write it in CMD: './t.sh $1') and in\n"
    "                      PVLAB_BISECT_COMMIT; exit 0 = pass,\n"
    "                      125 = untestable, 1-127 = fail, >= 128 stops (like git bisect run);\n"
    "                      a command that does not exist is refused before any trial\n"
    "  --axis linux|xen    boot the commit with pvlab run (other axis fixed by --xen/--linux);\n"
    "  --build-cmd CMD     ...built by CMD in a worktree (prints the artifact path last), or by\n"
    "                      pvlab's builder when absent\n"
    "  --build-opts OPTS   pvlab's builder's choices: toolchain=host|PROFILE|chroot:PATH,\n"
    "                      base=tinyconfig|allnoconfig|defconfig|FILE (comma-separated; the\n"
    "                      '?' part of a git: spec, docs/building.md)\n"
    "  --xen SPEC --linux SPEC --repro NAME|script:F|c:F --repro-args WORDS --iterations N\n"
    "  --lazy-fpu --amplifier LIST --dom0-args STR\n"
    "  --self-test-corrupt R   as for pvlab run\n"
    "Options:\n"
    "  --repo DIR|ALIAS    git work tree (default .), or an alias of [repos]; must have no\n"
    "                      uncommitted changes\n"
    "  --good REV          known good commit (repeatable for several)\n"
    "  --bad REV           known bad commit\n"
    "  --find regression|fix\n"
    "  --p P               per-trial failure rate of a bad commit if known (else estimated,\n"
    "                      conservatively, from the bad end)\n"
    "  --confidence C      stop when P(culprit) >= C (default 0.95)\n"
    "  --workers K         trials per round, run at once (default 1)\n"
    "  --max-trials N      budget; when spent the answer is the credible set\n"
    "  --check-good N      trials at the good end first ([bisect] check_good: 2)\n"
    "  --check-bad N       trials at most at the bad end waiting for its first fail (50)\n"
    "  --no-verify         skip re-testing the answer and its parent\n"
    "  --timeout S         per-trial timeout of --test-cmd\n"
    "  --fresh-boot-every K  snapshot trials per commit, as pvlab run's (default [run]\n"
    "                      fresh_boot_every)\n"
    "  --json              print the report as JSON\n"
    "\n"
    "Exit status: 0 a culprit at the stated confidence; 1 finished without one (credible set,\n"
    "a failed end check); 2 usage; 3 errors (a trial that asked to stop, a host that cannot\n"
    "start QEMU, a bisection another process runs); 130 interrupted.\n";

struct bui {
    struct status st;
};

static void on_status(void *ctx, const char *line)
{
    struct bui *u = ctx;
    status_update(&u->st, "bisect", "%s", line);
}

static void on_trial(void *ctx, const char *phase, const char *sha, enum verdict_kind outcome,
                     const char *detail)
{
    struct bui *u = ctx;
    status_print(&u->st, "%-10s %.12s %-5s %s", phase, sha, verdict_name(outcome),
                 detail ? detail : "");
}

/* "verify:  answer abc123: 1 of 1 trials failed; parent def456: 0 of 3 failed" */
static void print_verify(const struct json_flat *j)
{
    const struct json_field *v = json_flat_get(j, "verify");
    struct json_flat vj = { NULL, 0 };

    if (!v || !v->str || json_flat_parse(v->str, &vj, NULL) < 0)
        return;
    printf("verify:      the answer failed %.0f of %.0f trials",
           json_flat_num(&vj, "answer_fails", 0), json_flat_num(&vj, "answer_trials", 0));
    if (json_flat_str(&vj, "parent"))
        printf("; its parent %.12s failed %.0f of %.0f", json_flat_str(&vj, "parent"),
               json_flat_num(&vj, "parent_fails", 0), json_flat_num(&vj, "parent_trials", 0));
    printf("\n");
    json_flat_free(&vj);
}

/* Prints the report of a finished bisection (human or JSON). Returns the exit status. */
static int print_report(struct cli *c, long long id)
{
    struct bisect_rec b;
    struct bisect_trial_rec *t = NULL;
    size_t nt = 0;
    struct err e = ERR_INIT;
    struct json_flat j = { NULL, 0 };
    const char *outcome;
    int rc = EXIT_ERROR;

    if (store_bisect_get(c->store, id, &b, &t, &nt, &e) < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    if (c->json) {
        struct buf out = BUF_INIT;
        if (bisect_json(c->store, id, &out, &e) < 0) {
            cli_error(&e);
            rc = EXIT_ERROR;
            buf_release(&out);
            goto out;
        }
        printf("%s\n", out.data);
        buf_release(&out);
    } else {
        printf("bisection %lld: %s (%s), %zu trial record%s\n", b.id, b.status, b.find, nt,
               nt == 1 ? "" : "s");
        printf("%-4s %-10s %-12s %-6s %-12s %-7s %-6s %-6s %-6s %s\n", "SEQ", "PHASE", "COMMIT",
               "RESULT", "BEST", "P(BEST)", "CSET", "CANDS", "P-EST", "RUN/LOG");
        for (size_t i = 0; i < nt; i++) {
            char where[32];
            if (t[i].run_id > 0)
                snprintf(where, sizeof(where), "run %lld", t[i].run_id);
            printf("%-4d %-10s %-12.12s %-6s %-12.12s %-7.3f %-6lld %-6lld %-6.3g %s\n", t[i].seq,
                   t[i].phase, t[i].commit_sha, verdict_name(t[i].outcome),
                   t[i].best_sha ? t[i].best_sha : "-", t[i].best_prob, t[i].cset, t[i].candidates,
                   t[i].p_est,
                   t[i].run_id > 0 ? where
                   : t[i].log_path ? t[i].log_path
                                   : "-");
        }
    }
    if (!b.result_json || json_flat_parse(b.result_json, &j, NULL) < 0) {
        if (!c->json)
            printf("no result yet (status %s)\n", b.status);
        rc = 1;
        goto out;
    }
    outcome = json_flat_str(&j, "outcome");
    if (!c->json) {
        const char *culprit = json_flat_str(&j, "culprit");
        if (culprit) {
            printf("%s:  %s %s\n             %s\n",
                   json_flat_str(&j, "find") && !strcmp(json_flat_str(&j, "find"), "fix")
                       ? "fix    "
                       : "culprit",
                   culprit, json_flat_str(&j, "subject") ? json_flat_str(&j, "subject") : "",
                   json_flat_str(&j, "author") ? json_flat_str(&j, "author") : "");
            printf("confidence:  %.4f (P(miss) %.4f); credible set: %.0f commit(s)\n",
                   json_flat_num(&j, "probability", 0), json_flat_num(&j, "p_miss", 1),
                   json_flat_num(&j, "credible_set_size", 0));
        }
        printf("outcome:     %s%s%s\n", outcome ? outcome : "?",
               json_flat_str(&j, "why") ? ": " : "",
               json_flat_str(&j, "why") ? json_flat_str(&j, "why") : "");
        printf("trials:      %.0f (p estimate %.3g) over %.0f candidates\n",
               json_flat_num(&j, "trials", 0), json_flat_num(&j, "p_estimate", 0),
               json_flat_num(&j, "candidates", 0));
        print_verify(&j);
        if (json_flat_get(&j, "identical_artifact") && json_flat_num(&j, "identical_artifact", 0))
            printf("warning:     the culprit's artifact is byte-identical to its parent's: the "
                   "change cannot matter to the guest; suspect flakiness\n");
    }
    rc = outcome && !strcmp(outcome, "found") ? 0 : 1;
out:
    json_flat_free(&j);
    bisect_trial_recs_free(t, nt);
    bisect_rec_free(&b);
    return rc;
}

/* The git bisect log of a bisection (replayable by `git bisect replay`). */
static int print_log(struct cli *c, long long id)
{
    struct buf out = BUF_INIT;
    struct err e = ERR_INIT;
    int rc = 0;

    if (bisect_log(c->store, id, &out, &e) < 0) {
        cli_error(&e);
        rc = EXIT_ERROR;
    } else {
        fputs(out.data, stdout);
    }
    buf_release(&out);
    return rc;
}

static int status_list(struct cli *c)
{
    struct bisect_rec *v = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;

    if (store_bisect_list(c->store, 50, &v, &n, &e) < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    if (!n)
        printf("no bisections yet; try 'pvlab bisect start --help'\n");
    else
        printf("%-4s %-20s %-12s %-10s %-8s %s\n", "ID", "CREATED", "STATUS", "FIND", "AXIS",
               "REPO");
    for (size_t i = 0; i < n; i++) {
        printf("%-4lld %-20s %-12s %-10s %-8s %s\n", v[i].id, v[i].created, v[i].status, v[i].find,
               v[i].axis, v[i].repo);
        bisect_rec_free(&v[i]);
    }
    free(v);
    return 0;
}

int cmd_bisect(struct cli *c, int argc, char **argv)
{
    enum {
        O_REPO = 256,
        O_GOOD,
        O_BAD,
        O_FIND,
        O_TEST,
        O_AXIS,
        O_BUILD,
        O_BOPTS,
        O_XEN,
        O_LINUX,
        O_REPRO,
        O_REPRO_ARGS,
        O_AMP,
        O_FRESH,
        O_ITER,
        O_LAZY,
        O_DOM0,
        O_SELFTEST,
        O_P,
        O_CONF,
        O_WORKERS,
        O_MAXT,
        O_CHECKG,
        O_CHECKB,
        O_NOVERIFY,
        O_TIMEOUT,
        O_JSON
    };
    static const struct option opts[] = {
        { "repo", required_argument, NULL, O_REPO },
        { "good", required_argument, NULL, O_GOOD },
        { "bad", required_argument, NULL, O_BAD },
        { "find", required_argument, NULL, O_FIND },
        { "test-cmd", required_argument, NULL, O_TEST },
        { "axis", required_argument, NULL, O_AXIS },
        { "build-cmd", required_argument, NULL, O_BUILD },
        { "build-opts", required_argument, NULL, O_BOPTS },
        { "xen", required_argument, NULL, O_XEN },
        { "linux", required_argument, NULL, O_LINUX },
        { "repro", required_argument, NULL, O_REPRO },
        { "repro-args", required_argument, NULL, O_REPRO_ARGS },
        { "amplifier", required_argument, NULL, O_AMP },
        { "fresh-boot-every", required_argument, NULL, O_FRESH },
        { "iterations", required_argument, NULL, O_ITER },
        { "lazy-fpu", no_argument, NULL, O_LAZY },
        { "dom0-args", required_argument, NULL, O_DOM0 },
        { "self-test-corrupt", required_argument, NULL, O_SELFTEST },
        { "p", required_argument, NULL, O_P },
        { "confidence", required_argument, NULL, O_CONF },
        { "workers", required_argument, NULL, O_WORKERS },
        { "max-trials", required_argument, NULL, O_MAXT },
        { "check-good", required_argument, NULL, O_CHECKG },
        { "check-bad", required_argument, NULL, O_CHECKB },
        { "no-verify", no_argument, NULL, O_NOVERIFY },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "json", no_argument, NULL, O_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct bisect_request rq;
    struct bisect_events ev = { on_status, on_trial, NULL, 0, NULL };
    struct bui u;
    struct err e = ERR_INIT;
    char *repro_spec = NULL;
    const char *sub;
    long long id = 0;
    long v;
    char *end;
    int opt, rc = EXIT_ERROR;

    memset(&rq, 0, sizeof(rq));
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    sub = argv[1];
    argc--;
    argv++;
    /* the configuration's [run] and [bisect] sections are the defaults the options override */
    if (cli_config(c, &e) < 0) {
        cli_error(&e);
        return EXIT_ERROR;
    }
    bisect_request_defaults(&c->cfg, &rq);
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case O_REPO: rq.repo = optarg; break;
        case O_GOOD: sv_push(&rq.good, optarg); break;
        case O_BAD: rq.bad = optarg; break;
        case O_FIND:
            if (strcmp(optarg, "regression") && strcmp(optarg, "fix")) {
                err_set(&e, ERR_USAGE, "--find takes regression or fix, not '%s'", optarg);
                goto usage_err;
            }
            rq.find_fix = !strcmp(optarg, "fix");
            break;
        case O_TEST: rq.test_cmd = optarg; break;
        case O_AXIS:
            if (strcmp(optarg, "linux") && strcmp(optarg, "xen")) {
                err_set(&e, ERR_USAGE, "--axis takes linux or xen, not '%s'", optarg);
                goto usage_err;
            }
            rq.axis = optarg;
            break;
        case O_BUILD: rq.build_cmd = optarg; break;
        case O_BOPTS: rq.build_opts = optarg; break;
        case O_XEN: rq.xen_spec = optarg; break;
        case O_LINUX: rq.linux_spec = optarg; break;
        case O_REPRO: rq.repro = optarg; break;
        case O_REPRO_ARGS: rq.repro_args = optarg; break;
        case O_AMP: rq.amplifiers = optarg; break;
        case O_FRESH:
            if (cli_parse_fresh_every(optarg, &rq.fresh_every, &e) < 0)
                goto usage_err;
            break;
        case O_ITER:
            if (cli_parse_long("--iterations", optarg, 1, 10000000, &v, &e) < 0)
                goto usage_err;
            rq.iterations = v;
            break;
        case O_LAZY: rq.lazy_fpu = 1; break;
        case O_DOM0: rq.dom0_args = optarg; break;
        case O_SELFTEST:
        case O_P:
        case O_CONF: {
            double d = strtod(optarg, &end);
            int bad = *end || end == optarg || !(d > 0 && d <= 1) || (opt == O_CONF && d >= 1);
            if (bad) {
                err_set(&e, ERR_USAGE, "%s expects a number in (0, 1%c, got '%s'",
                        opt == O_P      ? "--p"
                        : opt == O_CONF ? "--confidence"
                                        : "--self-test-corrupt",
                        opt == O_CONF ? ')' : ']', optarg);
                goto usage_err;
            }
            if (opt == O_P)
                rq.p = d;
            else if (opt == O_CONF)
                rq.confidence = d;
            else
                rq.self_test_corrupt = d;
            break;
        }
        case O_WORKERS:
            if (cli_parse_long("--workers", optarg, 1, 16, &v, &e) < 0)
                goto usage_err;
            rq.workers = (int)v;
            break;
        case O_MAXT:
            if (cli_parse_long("--max-trials", optarg, 1, 100000000, &v, &e) < 0)
                goto usage_err;
            rq.max_trials = v;
            break;
        case O_CHECKG:
            if (cli_parse_long("--check-good", optarg, 0, 100000, &v, &e) < 0)
                goto usage_err;
            rq.check_good = (int)v;
            break;
        case O_CHECKB:
            if (cli_parse_long("--check-bad", optarg, 1, 100000, &v, &e) < 0)
                goto usage_err;
            rq.check_bad_max = (int)v;
            break;
        case O_NOVERIFY: rq.verify = 0; break;
        case O_TIMEOUT:
            if (cli_parse_long("--timeout", optarg, 1, 86400 * 7, &v, &e) < 0)
                goto usage_err;
            rq.trial_timeout_s = (int)v;
            break;
        case O_JSON: c->json = 1; break;
        case 'h':
            fputs(usage, stdout);
            rc = 0;
            goto out;
        default:
            fputs(usage, stderr);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    /* --repo ALIAS: a repository of [repos] (a directory of that name wins) */
    {
        struct stat sb;
        if (stat(rq.repo, &sb) < 0 && repos_path(c->cfg.repos, rq.repo)) {
            rq.alias = rq.repo;
            rq.repo = repos_path(c->cfg.repos, rq.repo);
        }
    }
    if (plugin_is_spec(rq.repro)) { /* every trial, and a resume, reads the same file */
        repro_spec = plugin_spec_canonical(rq.repro, &e);
        if (!repro_spec) {
            cli_error(&e);
            rc = EXIT_USAGE;
            goto out;
        }
        rq.repro = repro_spec;
        {
            struct plugin pl; /* refused now, not at the first trial */
            if (plugin_load(rq.repro, &pl, &e) < 0) {
                cli_error(&e);
                rc = EXIT_USAGE;
                goto out;
            }
            plugin_free(&pl);
        }
    }
    if (cli_store(c, &e) < 0 || store_bisect_mark_stale(c->store, &e) < 0) {
        cli_error(&e);
        goto out;
    }
    status_init(&u.st, 1);
    ev.ctx = &u;
    if (!strcmp(sub, "start")) {
        if (optind != argc) {
            err_set(&e, ERR_USAGE, "unexpected argument '%s'", argv[optind]);
            goto usage_err;
        }
        if (bisect_start(&c->cfg, c->config_path, c->store, &rq, &ev, &id, &e) < 0) {
            status_done(&u.st);
            cli_error(&e);
            if (id)
                fprintf(stderr, "bisection %lld kept; continue with: pvlab bisect resume %lld\n",
                        id, id);
            rc = e.code == ERR_USAGE || e.code == ERR_NOTFOUND ? EXIT_USAGE
                 : e.code == ERR_INTERRUPTED                   ? EXIT_INTERRUPTED
                                                               : EXIT_ERROR;
            goto out;
        }
        status_done(&u.st);
        rc = print_report(c, id);
        cli_report(c, "bisect", id);
    } else if (!strcmp(sub, "status") || !strcmp(sub, "log") || !strcmp(sub, "resume") ||
               !strcmp(sub, "stop")) {
        if (optind == argc && !strcmp(sub, "status")) {
            rc = status_list(c);
            goto out;
        }
        if (optind != argc - 1 || cli_parse_id(argv[optind], &id, &e) < 0) {
            if (!e.msg[0])
                err_set(&e, ERR_USAGE, "pvlab bisect %s needs one bisection ID", sub);
            goto usage_err;
        }
        if (!strcmp(sub, "status")) {
            rc = print_report(c, id);
        } else if (!strcmp(sub, "log")) {
            rc = print_log(c, id);
        } else if (!strcmp(sub, "stop")) {
            if (bisect_stop(c->store, id, &e) < 0) {
                cli_error(&e);
                goto out;
            }
            printf("bisection %lld stopped; continue with: pvlab bisect resume %lld\n", id, id);
            rc = 0;
        } else {
            if (bisect_resume(&c->cfg, c->config_path, c->store, id, &ev, &e) < 0) {
                status_done(&u.st);
                cli_error(&e);
                rc = e.code == ERR_INTERRUPTED ? EXIT_INTERRUPTED : EXIT_ERROR;
                goto out;
            }
            status_done(&u.st);
            rc = print_report(c, id);
            cli_report(c, "bisect", id);
        }
    } else {
        err_set(&e, ERR_USAGE,
                "unknown bisect command '%s'; commands: start, status, log, "
                "resume, stop",
                sub);
        goto usage_err;
    }
    goto out;
usage_err:
    cli_error(&e);
    rc = EXIT_USAGE;
out:
    sv_clear(&rq.good);
    free(repro_spec);
    return rc;
}
