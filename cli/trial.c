/*
 * pvlab trial: one trial from a typed description, the child process of the trial pool (and of
 * a remote host's share of a matrix). Its options are written by trial_job_argv; it reports
 * progress and one outcome as JSON records ("progress {...}", "result {...}") on --result-fd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "jobs/trial_job.h"
#include "util/sv.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: pvlab trial --log PATH [options] [--result-fd N]\n"
    "       pvlab trial --job WORD [--result-fd N]   (the options as one base64 word)\n"
    "\n"
    "Runs one trial and writes its outcome as JSON records on descriptor N (default 1):\n"
    "\"progress {...}\" lines while it runs, then one \"result {...}\" line. pvlab run, pvlab\n"
    "bisect and the matrix start it (locally or on another host over ssh); the options are\n"
    "those of pvlab run for one trial (--xen, --linux, --repro, --iterations, --lazy-fpu,\n"
    "--self-test-corrupt, --seed, --dom0-args, --xen-args, --boot-timeout, --timeout), a build\n"
    "step (--build-cmd, --build-axis, --build-dir, --commit) or a prepared boot (--xen-image,\n"
    "--kernel-image, --initramfs, --xen-cmdline, --dom0-cmdline, --accel, --cpu-model,\n"
    "--memory-mb, --smp). Exit status as pvlab run: 0, 1, 125, 128 (setup error), 130.\n";

struct sink {
    FILE *f;
};

/* Writes one record line and flushes it, so the parent sees progress as it happens. */
static void record(struct sink *k, const char *type, const char *json)
{
    if (!k->f)
        return;
    fprintf(k->f, "%s %s\n", type, json);
    fflush(k->f);
}

static void on_progress(void *ctx, const struct trial_progress *p)
{
    char *js = trial_progress_json(p);
    record(ctx, "progress", js);
    free(js);
}

int cmd_trial(struct cli *c, int argc, char **argv)
{
    struct trial_job job;
    struct trial_outcome o;
    struct err e = ERR_INIT;
    struct sink k = { NULL };
    struct sv args = SV_INIT;
    int fd = 1, rc = EXIT_RUN_ERROR, exit_zero = 0;
    char *js;

    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    /* `pvlab trial --job WORD [--result-fd N]`: the options in one word (from another host) */
    if (argc >= 3 && !strcmp(argv[1], "--job")) {
        sv_push(&args, argv[0]);
        if (trial_job_unword(argv[2], &args, &e) < 0) {
            cli_error(&e);
            return EXIT_RUN_ERROR;
        }
        for (int i = 3; i < argc; i++)
            sv_push(&args, argv[i]);
        argc = (int)args.n;
        argv = sv_argv(&args);
    }
    /* --exit-zero (a remote trial under GNU parallel): exit 0 whenever a result was written, so
     * only a trial that was lost (its host gone) is retried elsewhere */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--exit-zero")) {
            exit_zero = 1;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
            argc--;
            break;
        }
    if (trial_job_parse(argc, argv, &job, &fd, &e) < 0) {
        cli_error(&e);
        sv_clear(&args);
        return EXIT_RUN_ERROR;
    }
    k.f = fd == 1 ? stdout : fdopen(fd, "w");
    if (!k.f) {
        fprintf(stderr, "pvlab: error: --result-fd %d is not open for writing\n", fd);
        sv_clear(&args);
        return EXIT_RUN_ERROR;
    }
    memset(&o, 0, sizeof(o));
    if (cli_config(c, &e) < 0) {
        /* a setup error is still an outcome: the parent learns why from the record */
        o.verdict = VERDICT_INFRA;
        o.stop = 1;
        o.reason = xstrdup(e.msg);
        o.boot_ms = -1;
    } else if (trial_job_exec(&c->cfg, &job, on_progress, &k, &o, &e) < 0) {
        cli_error(&e);
        rc = e.code == ERR_INTERRUPTED ? EXIT_INTERRUPTED : EXIT_RUN_ERROR;
        goto out;
    }
    js = trial_outcome_json(&o);
    record(&k, "result", js);
    free(js);
    rc = exit_zero ? 0
         : o.verdict == VERDICT_INFRA && o.reason && !strcmp(o.reason, "interrupted by the user")
             ? EXIT_INTERRUPTED
             : trial_outcome_exit_code(&o);
out:
    trial_outcome_free(&o);
    sv_clear(&args);
    if (k.f && k.f != stdout)
        fclose(k.f);
    return rc;
}
