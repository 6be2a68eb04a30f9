/* The pvlab binary: global options, then one subcommand (one file each in cli/). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/log.h"
#include "util/proc.h"

#define PVLAB_VERSION "0.1"

static const char usage[] =
    "usage: pvlab [--config FILE] [-v] <command> [options]\n"
    "\n"
    "A regression and bisect lab for Xen paravirtualised guests: boots Xen and a Linux PV dom0\n"
    "under QEMU, runs a reproducer and reports a verdict with a confidence bound.\n"
    "\n"
    "Commands:\n"
    "  run      boot Xen + a PV dom0 N times, run a reproducer, print the verdict\n"
    "  list     list past runs from the store\n"
    "  show     show one run with its trials, evidence and logs\n"
    "  bisect   find the commit where corruption appears or disappears, flaky-aware\n"
    "  matrix   run a Xen x Linux x reproducer matrix; show, resume, list its runs\n"
    "  nightly  run the nightly matrix and compare with the last (exit 1 on a REGRESSION)\n"
    "  report   post the results the dashboard has not seen yet\n"
    "  serve    the dashboard: compatibility tables, runs, bisections, requests (HTTP)\n"
    "  publish  the dashboard's pages as static files\n"
    "  worker   take the dashboard's bisection requests and run them on this lab\n"
    "  build    build a Linux PV kernel or a Xen hypervisor from source into the cache\n"
    "  cache    list the artifact cache or remove least recently used entries\n"
    "  host     QEMU, the accelerator chosen and why, CPU models, disk, tools\n"
    "  repro    list the reproducers (built-in and plug-ins) or show one\n"
    "  help     this text; 'pvlab <command> --help' explains a command\n"
    "\n"
    "Global options:\n"
    "  --config FILE   configuration file (over config/pvlab.conf and ~/.config/pvlab/pvlab.conf)\n"
    "  -v, --verbose   more logging (repeat for debug)\n"
    "  --version       print the version\n"
    "\n"
    "Environment: PVLAB_HOME (cache and state under one directory), PVLAB_CACHE_DIR,\n"
    "PVLAB_STATE_DIR, PVLAB_CONFIG. See docs/config.md.\n";

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    struct cli c;
    struct err e = ERR_INIT;
    const char *cmd;
    int opt, rc;

    memset(&c, 0, sizeof(c));
    /* stop at the first non-option: the subcommand parses the rest */
    while ((opt = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': c.config_path = optarg; break;
        case 'v': c.verbose++; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': printf("pvlab %s\n", PVLAB_VERSION); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    log_set_level(LOG_WARN + c.verbose);
    if (proc_init(&e) < 0) {
        fprintf(stderr, "pvlab: error: %s\n", e.msg);
        return EXIT_ERROR;
    }
    proc_install_signal_handlers();
    cmd = argv[optind];
    argc -= optind;
    argv += optind;
    optind = 0; /* reset getopt for the subcommand (glibc: 0 re-initialises) */
    if (!strcmp(cmd, "run"))
        rc = cmd_run(&c, argc, argv);
    else if (!strcmp(cmd, "list"))
        rc = cmd_list(&c, argc, argv);
    else if (!strcmp(cmd, "show"))
        rc = cmd_show(&c, argc, argv);
    else if (!strcmp(cmd, "build"))
        rc = cmd_build(&c, argc, argv);
    else if (!strcmp(cmd, "cache"))
        rc = cmd_cache(&c, argc, argv);
    else if (!strcmp(cmd, "bisect"))
        rc = cmd_bisect(&c, argc, argv);
    else if (!strcmp(cmd, "host"))
        rc = cmd_host(&c, argc, argv);
    else if (!strcmp(cmd, "trial"))
        rc = cmd_trial(&c, argc, argv);
    else if (!strcmp(cmd, "matrix"))
        rc = cmd_matrix(&c, argc, argv);
    else if (!strcmp(cmd, "nightly"))
        rc = cmd_nightly(&c, argc, argv);
    else if (!strcmp(cmd, "report"))
        rc = cmd_report(&c, argc, argv);
    else if (!strcmp(cmd, "worker"))
        rc = cmd_worker(&c, argc, argv);
    else if (!strcmp(cmd, "serve"))
        rc = cmd_serve(&c, argc, argv);
    else if (!strcmp(cmd, "publish"))
        rc = cmd_publish(&c, argc, argv);
    else if (!strcmp(cmd, "repro"))
        rc = cmd_repro(&c, argc, argv);
    else if (!strcmp(cmd, "help")) {
        fputs(usage, stdout);
        rc = 0;
    } else {
        fprintf(stderr,
                "pvlab: unknown command '%s'; commands: run, list, show, bisect, matrix, "
                "nightly, report, serve, publish, worker, build, cache, host, repro, trial, help\n",
                cmd);
        rc = EXIT_USAGE;
    }
    store_close(c.store);
    if (c.cfg_loaded)
        config_free(&c.cfg);
    return rc;
}
