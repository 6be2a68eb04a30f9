/* pvlab run: N trials of one configuration; exit status as `git bisect run` expects. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "images/plugin.h"
#include "jobs/run.h"
#include "lab/qemu.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/proc.h"
#include "util/status.h"
#include "util/sv.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: pvlab run [options]\n"
    "\n"
    "Boots Xen with a Linux PV dom0 under QEMU once per trial, runs a reproducer in dom0 and\n"
    "prints the verdict: pass (ran, no corruption), fail (corruption seen, with evidence) or\n"
    "infra (boot hang, panic, timeout: says nothing about the bug), plus a 95% bound on the\n"
    "per-iteration corruption rate. Every trial is stored ('pvlab list', 'pvlab show ID').\n"
    "\n"
    "  --xen SPEC             4.14 | 4.17 | 4.20 (Debian's) | file:PATH | git:REPO@REV |\n"
    "                         debsrc:SUITE                     (default [run] xen: 4.17)\n"
    "  --linux SPEC           5.10 | 6.1 | 6.12 (Debian's) | file:PATH | git:REPO@REV |\n"
    "                         tarball:PATH                     (default [run] linux: 6.1)\n"
    "  --repro NAME           fpu-leak | seed-memcmp | self-test-hang (default fpu-leak), or a\n"
    "                         plug-in: script:FILE, c:FILE, or either with a directory holding\n"
    "                         repro.conf (pvlab repro list; docs/reproducers.md)\n"
    "  --repro-args WORDS     a plug-in's extra arguments, after its parameters' defaults\n"
    "  --trials N             boots, one verdict each (default [run] trials: 1)\n"
    "  --iterations N         fresh processes per trial (default [run] iterations: 2000)\n"
    "  --jobs N               trials at once, each a QEMU guest (default [run] jobs: 1)\n"
    "  --workers N            parallel workers in dom0 (default 2 x vCPUs + 1)\n"
    "  --lazy-fpu             add eagerfpu=off to dom0 (Linux 3.7-4.1 default to eager FPU,\n"
    "                         which hides bug #40)\n"
    "  --self-test-corrupt R  detector self-test: clobber a register in a fraction R of the\n"
    "                         processes; the run must then fail (positive control)\n"
    "  --seed N               reproducer seed (default: random, recorded)\n"
    "  --domus N              start N PV domUs (1..8) from dom0 with the Xen toolstack and\n"
    "                         run the reproducer in each; verdict per domU (a Debian Xen and\n"
    "                         dom0 kernel: the toolstack and modules come from Debian)\n"
    "  --domu-linux SPEC      a domU's kernel, any --linux SPEC; repeat for d1, d2, ... (the\n"
    "                         last repeats; default the dom0 kernel); implies --domus\n"
    "  --domu-mem MIB         memory per domU (default 256)\n"
    "  --domu-vcpus N         vCPUs per domU (default 2)\n"
    "  --in PLACES            where the reproducer runs with domUs: domu (default) or\n"
    "                         dom0,domu\n"
    "  --self-test-in PLACES  the domUs (d1,d2,...; dom0) --self-test-corrupt applies to\n"
    "                         (default all)\n"
    "  --cpu-model MODEL      QEMU CPU model for this run, e.g. max,-smap,-avx (default\n"
    "                         [qemu] cpu_tcg / cpu_kvm); probed before the first trial\n"
    "  --amplifier LIST       lazy-fpu, mem-pressure (192 MiB dom0 + a memory churner),\n"
    "                         overcommit (8 workers per vCPU); comma-separated, recorded\n"
    "  --fresh-boot-every K   snapshot trials: 0 = boot once, save the ready machine and\n"
    "                         restore it for every further trial; K = also boot every K-th\n"
    "                         trial; 1 = boot every trial (default [run] fresh_boot_every: 4)\n"
    "  --backend qemu|libvirt run QEMU directly (default [lab] backend) or as a transient\n"
    "                         libvirt domain pvlab-... (docs/libvirt.md)\n"
    "  --libvirt-uri URI      libvirt's connection (default [lab] libvirt_uri)\n"
    "  --dom0-args STR        extra dom0 kernel command-line words\n"
    "  --xen-args STR         extra Xen command-line words\n"
    "  --boot-timeout S       seconds until the reproducer starts (default: config boot_s)\n"
    "  --timeout S            seconds for the reproducer (default: scaled by iterations)\n"
    "  --print-qemu-cmd       fetch and prepare, then print the QEMU command line and exit\n"
    "  --json                 print the run as JSON on stdout\n"
    "  -q, --quiet            no progress output\n"
    "\n"
    "Exit status: 0 no corruption, 1 corruption seen, 125 could not test (infra, or a git:\n"
    "or tarball: source that does not build: skip), so\n"
    "'git bisect run pvlab run ...' works as is; 128 for bad input or setup errors (including\n"
    "a QEMU that cannot start a guest on this host), 130 when interrupted: both stop a git\n"
    "bisect run instead of mislabelling a commit.\n";

struct ui {
    struct status st;
    char stage[64];
};

static void on_stage(void *ctx, const char *stage, const char *detail)
{
    struct ui *u = ctx;
    status_update(&u->st, stage, "%s", detail ? detail : "");
}

static void on_trial(void *ctx, int idx, int total, const struct trial_progress *p)
{
    struct ui *u = ctx;
    char stage[64];

    /* the stage is part of the key, so a log (not a TTY) gets a line per stage change */
    snprintf(stage, sizeof(stage), "trial %d/%d %s", idx, total, trial_stage_name(p->stage));
    if (p->stage == TRIAL_RUN && p->total > 0)
        status_update(&u->st, stage, "%lld/%lld iterations, %lld evidence line%s, %.0f s", p->done,
                      p->total, p->events, p->events == 1 ? "" : "s",
                      (double)p->elapsed_ms / 1000.0);
    else
        status_update(&u->st, stage, "%.0f s", (double)p->elapsed_ms / 1000.0);
}

static void on_trial_done(void *ctx, int idx, int total, const struct trial_outcome *o)
{
    struct ui *u = ctx;
    status_print(&u->st, "trial %d/%d: %s (%s) in %.1f s", idx, total, verdict_name(o->verdict),
                 o->reason ? o->reason : "", (double)o->wall_ms / 1000.0);
}

static void on_note(void *ctx, const char *line)
{
    struct ui *u = ctx;
    status_print(&u->st, "%s", line);
}

static int print_qemu_cmd(const struct run_plan *plan)
{
    struct qemu_cfg q;
    struct sv argv = SV_INIT;
    struct buf out = BUF_INIT;
    struct err e = ERR_INIT;
    char *log = xasprintf("%s/console.log", plan->cfg->state_dir);
    int rc = EXIT_RUN_ERROR;

    run_qemu_cfg(plan, log, &q);
    if (qemu_build_argv(&q, &argv, &e) < 0) {
        cli_error(&e);
        goto out;
    }
    qemu_shell_quote(&out, sv_argv(&argv));
    printf("%s\n", out.data);
    rc = 0;
out:
    free(log);
    buf_release(&out);
    sv_clear(&argv);
    return rc;
}

int cmd_run(struct cli *c, int argc, char **argv)
{
    enum {
        O_XEN = 256,
        O_LINUX,
        O_REPRO,
        O_TRIALS,
        O_ITER,
        O_WORKERS,
        O_LAZY,
        O_SELFTEST,
        O_SEED,
        O_DOM0ARGS,
        O_XENARGS,
        O_BOOTTO,
        O_TO,
        O_PRINT,
        O_JSON,
        O_JOBS,
        O_DOMUS,
        O_DOMU_LINUX,
        O_DOMU_MEM,
        O_DOMU_VCPUS,
        O_IN,
        O_SELFTEST_IN,
        O_CPU,
        O_REPRO_ARGS,
        O_AMP,
        O_BACKEND,
        O_LVURI,
        O_FRESH
    };
    static const struct option opts[] = {
        { "xen", required_argument, NULL, O_XEN },
        { "linux", required_argument, NULL, O_LINUX },
        { "repro", required_argument, NULL, O_REPRO },
        { "repro-args", required_argument, NULL, O_REPRO_ARGS },
        { "amplifier", required_argument, NULL, O_AMP },
        { "backend", required_argument, NULL, O_BACKEND },
        { "fresh-boot-every", required_argument, NULL, O_FRESH },
        { "libvirt-uri", required_argument, NULL, O_LVURI },
        { "trials", required_argument, NULL, O_TRIALS },
        { "iterations", required_argument, NULL, O_ITER },
        { "workers", required_argument, NULL, O_WORKERS },
        { "lazy-fpu", no_argument, NULL, O_LAZY },
        { "self-test-corrupt", required_argument, NULL, O_SELFTEST },
        { "seed", required_argument, NULL, O_SEED },
        { "dom0-args", required_argument, NULL, O_DOM0ARGS },
        { "xen-args", required_argument, NULL, O_XENARGS },
        { "boot-timeout", required_argument, NULL, O_BOOTTO },
        { "timeout", required_argument, NULL, O_TO },
        { "jobs", required_argument, NULL, O_JOBS },
        { "domus", required_argument, NULL, O_DOMUS },
        { "domu-linux", required_argument, NULL, O_DOMU_LINUX },
        { "domu-mem", required_argument, NULL, O_DOMU_MEM },
        { "domu-vcpus", required_argument, NULL, O_DOMU_VCPUS },
        { "in", required_argument, NULL, O_IN },
        { "self-test-in", required_argument, NULL, O_SELFTEST_IN },
        { "cpu-model", required_argument, NULL, O_CPU },
        { "print-qemu-cmd", no_argument, NULL, O_PRINT },
        { "json", no_argument, NULL, O_JSON },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct run_request req, over; /* over: what the command line says (0 / NULL: not given) */
    struct run_events ev = { on_stage, on_trial, on_trial_done, on_note, NULL };
    struct run_plan plan;
    struct run_rec rec;
    long long id = 0;
    struct trial_rec *trials = NULL;
    size_t ntrials = 0;
    struct err e = ERR_INIT;
    struct ui u;
    int print_cmd = 0, quiet = 0, opt, rc = EXIT_RUN_ERROR;
    long v;
    char *end, *repro_spec = NULL;

    memset(&plan, 0, sizeof(plan));
    memset(&rec, 0, sizeof(rec));
    memset(&over, 0, sizeof(over));
    over.fresh_every = -1;
    while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (opt) {
        case O_XEN: over.xen_spec = optarg; break;
        case O_LINUX: over.linux_spec = optarg; break;
        case O_REPRO: over.repro = optarg; break;
        case O_REPRO_ARGS: over.repro_args = optarg; break;
        case O_AMP: over.amplifiers = optarg; break;
        case O_BACKEND: over.backend = optarg; break;
        case O_FRESH:
            if (cli_parse_fresh_every(optarg, &over.fresh_every, &e) < 0)
                goto usage_err;
            break;
        case O_LVURI: over.libvirt_uri = optarg; break;
        case O_TRIALS:
            if (cli_parse_long("--trials", optarg, 1, 100000, &v, &e) < 0)
                goto usage_err;
            over.trials = (int)v;
            break;
        case O_ITER:
            if (cli_parse_long("--iterations", optarg, 1, 10000000, &v, &e) < 0)
                goto usage_err;
            over.iterations = v;
            break;
        case O_WORKERS:
            if (cli_parse_long("--workers", optarg, 0, 1024, &v, &e) < 0)
                goto usage_err;
            over.workers = (int)v;
            break;
        case O_LAZY: over.lazy_fpu = 1; break;
        case O_SELFTEST:
            over.self_test_corrupt = strtod(optarg, &end);
            if (*end || end == optarg || over.self_test_corrupt <= 0 ||
                over.self_test_corrupt > 1) {
                err_set(&e, ERR_USAGE, "--self-test-corrupt expects a rate in (0, 1], got '%s'",
                        optarg);
                goto usage_err;
            }
            break;
        case O_SEED:
            if (cli_parse_long("--seed", optarg, 1, 0x7fffffffL, &v, &e) < 0)
                goto usage_err;
            over.seed = (unsigned long)v;
            break;
        case O_DOM0ARGS: over.dom0_args = optarg; break;
        case O_XENARGS: over.xen_args = optarg; break;
        case O_BOOTTO:
            if (cli_parse_long("--boot-timeout", optarg, 1, 86400, &v, &e) < 0)
                goto usage_err;
            over.boot_timeout_s = (int)v;
            break;
        case O_TO:
            if (cli_parse_long("--timeout", optarg, 1, 86400 * 7, &v, &e) < 0)
                goto usage_err;
            over.run_timeout_s = (int)v;
            break;
        case O_JOBS:
            if (cli_parse_long("--jobs", optarg, 1, 64, &v, &e) < 0)
                goto usage_err;
            over.jobs = (int)v;
            break;
        case O_DOMUS:
            if (cli_parse_long("--domus", optarg, 1, RUN_MAX_DOMUS, &v, &e) < 0)
                goto usage_err;
            over.domus = (int)v;
            break;
        case O_DOMU_LINUX:
            if (over.n_domu_linux == RUN_MAX_DOMUS) {
                err_set(&e, ERR_USAGE, "at most %d --domu-linux kernels", RUN_MAX_DOMUS);
                goto usage_err;
            }
            over.domu_linux[over.n_domu_linux++] = optarg;
            break;
        case O_DOMU_MEM:
            if (cli_parse_long("--domu-mem", optarg, 64, 65536, &v, &e) < 0)
                goto usage_err;
            over.domu_mem_mb = (int)v;
            break;
        case O_DOMU_VCPUS:
            if (cli_parse_long("--domu-vcpus", optarg, 1, 64, &v, &e) < 0)
                goto usage_err;
            over.domu_vcpus = (int)v;
            break;
        case O_IN:
            if (!strcmp(optarg, "domu"))
                over.in_dom0 = 0;
            else if (!strcmp(optarg, "dom0,domu") || !strcmp(optarg, "domu,dom0"))
                over.in_dom0 = 1;
            else {
                err_set(&e, ERR_USAGE,
                        "--in expects domu or dom0,domu (got '%s'); without domUs the "
                        "reproducer runs in dom0",
                        optarg);
                goto usage_err;
            }
            break;
        case O_SELFTEST_IN: over.corrupt_in = optarg; break;
        case O_CPU: over.cpu_model = optarg; break;
        case O_PRINT: print_cmd = 1; break;
        case O_JSON: c->json = 1; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_RUN_ERROR;
        }
    }
    if (optind < argc) {
        err_set(&e, ERR_USAGE, "unexpected argument '%s'", argv[optind]);
        goto usage_err;
    }
    if (over.n_domu_linux && !over.domus)
        over.domus = over.n_domu_linux;
    if (print_cmd) /* the printed command must run by itself: no START line to wait for */
        over.fresh_every = 1;
    if (plugin_is_spec(over.repro)) { /* trials and the store see the same file, wherever */
        repro_spec = plugin_spec_canonical(over.repro, &e);
        if (!repro_spec)
            goto err;
        over.repro = repro_spec;
    }
    status_init(&u.st, !quiet);
    ev.ctx = &u;
    if (cli_config(c, &e) < 0)
        goto err;
    run_request_merge(&c->cfg, &over, &req);
    if (run_prepare(&c->cfg, &req, &ev, &plan, &e) < 0) {
        if (e.code == ERR_BUILD)
            goto untestable;
        goto err;
    }
    if (print_cmd) {
        status_done(&u.st);
        rc = print_qemu_cmd(&plan);
        goto out;
    }
    if (cli_store(c, &e) < 0)
        goto err;
    if (run_execute(&plan, c->store, c->config_path, &ev, &id, &e) < 0) {
        /* a setup error or an interrupt: both stop a `git bisect run` (exit >= 128), and the
         * trials that finished are stored and shown */
        status_done(&u.st);
        cli_error(&e);
        rc = e.code == ERR_INTERRUPTED || proc_interrupted() ? EXIT_INTERRUPTED : EXIT_RUN_ERROR;
        if (id && c->json) {
            struct err e2 = ERR_INIT;
            if (store_run_get(c->store, id, &rec, &trials, &ntrials, &e2) == 0)
                cli_print_run_json(&rec, trials, ntrials);
        }
        cli_report(c, "run", id);
        goto out;
    }
    status_done(&u.st);
    if (store_run_get(c->store, id, &rec, &trials, &ntrials, &e) < 0)
        goto err;
    if (c->json)
        cli_print_run_json(&rec, trials, ntrials);
    else
        cli_print_run_human(&rec, trials, ntrials);
    rc = run_exit_code(rec.verdict);
    cli_report(c, "run", id);
    goto out;
untestable:
    /* the commit's source does not build: a skip, like git bisect run's 125 */
    status_done(&u.st);
    cli_error(&e);
    if (c->json) {
        struct buf b = BUF_INIT;
        struct jw w;
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kv_int(&w, "id", 0);
        jw_kv_s(&w, "verdict", "skip");
        jw_kv_s(&w, "reason", e.msg);
        jw_end(&w);
        printf("%s\n", b.data);
        buf_release(&b);
    }
    rc = 125;
    goto out;
usage_err:
    cli_error(&e);
    rc = EXIT_RUN_ERROR;
    goto out;
err:
    status_done(&u.st);
    cli_error(&e);
    rc = proc_interrupted() ? EXIT_INTERRUPTED : EXIT_RUN_ERROR;
out:
    trial_recs_free(trials, ntrials);
    run_rec_free(&rec);
    run_plan_free(&plan);
    free(repro_spec);
    return rc;
}
