/* pvlab show: one run with its trials, evidence and log paths; --log N prints a console log. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "util/buf.h"

static const char usage[] =
    "usage: pvlab show RUN-ID [--json] [--log N]\n"
    "\n"
    "Shows a run: what booted (exact package versions and sha256), the host stack (QEMU,\n"
    "accelerator, CPU model, L0 kernel), each trial's verdict, reason, evidence and console log.\n"
    "  --log N   print trial N's console log instead\n";

int cmd_show(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "log", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct run_rec r = { 0 };
    struct trial_rec *t = NULL;
    size_t nt = 0;
    struct err e = ERR_INIT;
    long id = 0, log_idx = 0;
    int opt, rc = EXIT_ERROR;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'j': c->json = 1; break;
        case 'l':
            if (cli_parse_long("--log", optarg, 1, 100000, &log_idx, &e) < 0) {
                cli_error(&e);
                return EXIT_USAGE;
            }
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (cli_parse_long("RUN-ID", argv[optind], 1, 0x7fffffffL, &id, &e) < 0) {
        cli_error(&e);
        return EXIT_USAGE;
    }
    if (cli_store(c, &e) < 0 || store_run_get(c->store, id, &r, &t, &nt, &e) < 0) {
        cli_error(&e);
        goto out;
    }
    if (log_idx) {
        struct buf b = BUF_INIT;
        if ((size_t)log_idx > nt) {
            fprintf(stderr, "pvlab: error: run %ld has %zu trial%s\n", id, nt, nt == 1 ? "" : "s");
            goto out;
        }
        if (buf_read_file(&b, t[log_idx - 1].log_path, &e) < 0) {
            cli_error(&e);
            goto out;
        }
        fwrite(b.data, 1, b.len, stdout);
        buf_release(&b);
    } else if (c->json) {
        cli_print_run_json(&r, t, nt);
    } else {
        cli_print_run_human(&r, t, nt);
    }
    rc = 0;
out:
    for (size_t i = 0; i < nt; i++)
        trial_rec_free(&t[i]);
    free(t);
    run_rec_free(&r);
    return rc;
}
