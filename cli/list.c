/* pvlab list: past runs from the store, newest first. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "util/buf.h"
#include "util/json.h"

static const char usage[] =
    "usage: pvlab list [--limit N] [--json]\n"
    "\n"
    "Lists past runs, newest first: id, start time, status, verdict, what booted, trial\n"
    "counts (pass/fail/infra), iterations and corruptions. 'pvlab show ID' shows one run.\n";

int cmd_list(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "limit", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct run_rec *runs = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    long limit = 50;
    int opt, rc = EXIT_ERROR;

    while ((opt = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (cli_parse_long("--limit", optarg, 1, 1000000, &limit, &e) < 0) {
                cli_error(&e);
                return EXIT_USAGE;
            }
            break;
        case 'j': c->json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (cli_store(c, &e) < 0 || store_run_list(c->store, (int)limit, &runs, &n, &e) < 0) {
        cli_error(&e);
        goto out;
    }
    if (c->json) {
        struct buf b = BUF_INIT;
        struct jw w;
        jw_init(&w, &b);
        jw_arr(&w);
        for (size_t i = 0; i < n; i++) {
            jw_obj(&w);
            jw_kv_int(&w, "id", runs[i].id);
            jw_kv_s(&w, "created", runs[i].created);
            jw_kv_s(&w, "status", runs[i].status);
            jw_kv_s(&w, "verdict", runs[i].verdict);
            jw_kv_s(&w, "xen", runs[i].xen_spec);
            jw_kv_s(&w, "linux", runs[i].linux_spec);
            jw_kv_s(&w, "repro", runs[i].repro);
            jw_kv_int(&w, "pass", runs[i].trials_pass);
            jw_kv_int(&w, "fail", runs[i].trials_fail);
            jw_kv_int(&w, "infra", runs[i].trials_infra);
            jw_kv_int(&w, "iterations", runs[i].iterations);
            jw_kv_int(&w, "corruptions", runs[i].corruptions);
            jw_end(&w);
        }
        jw_end(&w);
        printf("%s\n", b.data);
        buf_release(&b);
    } else if (n == 0) {
        printf("no runs yet; try 'pvlab run'\n");
    } else {
        printf("%-5s %-20s %-11s %-7s %-8s %-8s %-12s %-9s %10s %6s\n", "ID", "CREATED", "STATUS",
               "VERDICT", "XEN", "LINUX", "REPRO", "P/F/I", "ITERS", "CORR");
        for (size_t i = 0; i < n; i++) {
            char pfi[32];
            snprintf(pfi, sizeof(pfi), "%ld/%ld/%ld", runs[i].trials_pass, runs[i].trials_fail,
                     runs[i].trials_infra);
            printf("%-5lld %-20s %-11s %-7s %-8.8s %-8.8s %-12.12s %-9s %10lld %6lld\n", runs[i].id,
                   runs[i].created ? runs[i].created : "", runs[i].status ? runs[i].status : "",
                   runs[i].verdict ? runs[i].verdict : "-",
                   runs[i].xen_spec ? runs[i].xen_spec : "",
                   runs[i].linux_spec ? runs[i].linux_spec : "", runs[i].repro ? runs[i].repro : "",
                   pfi, runs[i].iterations, runs[i].corruptions);
        }
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        run_rec_free(&runs[i]);
    free(runs);
    return rc;
}
