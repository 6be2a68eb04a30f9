#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#include <jansson.h>
#include "util/buf.h"
#include "util/json.h"
#include "jobs/run.h"
#include "util/stats.h"
#include "util/xalloc.h"

int cli_config(struct cli *c, struct err *e)
{
    if (c->cfg_loaded)
        return 0;
    if (config_load(&c->cfg, c->config_path, e) < 0)
        return -1;
    c->cfg_loaded = 1;
    return 0;
}

int cli_store(struct cli *c, struct err *e)
{
    char *path = NULL;
    int rc = -1;

    if (c->store)
        return 0;
    if (cli_config(c, e) < 0)
        goto out;
    path = xasprintf("%s/pvlab.db", c->cfg.state_dir);
    if (store_open(path, &c->store, e) < 0)
        goto out;
    if (store_mark_stale(c->store, e) < 0)
        goto out;
    rc = 0;
out:
    free(path);
    return rc;
}

void cli_error(const struct err *e)
{
    fprintf(stderr, "pvlab: error: %s\n", e->msg[0] ? e->msg : "unknown error");
    if (e->code == ERR_USAGE)
        fprintf(stderr, "(see 'pvlab help' or 'pvlab <command> --help')\n");
}

int cli_parse_id(const char *s, long long *id, struct err *e)
{
    long v;
    if (cli_parse_long("ID", s, 1, 0x7fffffffL, &v, e) < 0)
        return -1;
    *id = v;
    return 0;
}

int cli_parse_long(const char *opt, const char *s, long min, long max, long *out, struct err *e)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) {
        err_set(e, ERR_USAGE, "%s expects a whole number from %ld to %ld, got '%s'", opt, min, max,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_fresh_every(const char *s, int *out, struct err *e)
{
    long v;

    if (cli_parse_long("--fresh-boot-every", s, 0, 1000000, &v, e) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

void cli_print_run_json(const struct run_rec *r, const struct trial_rec *t, size_t nt)
{
    struct buf b = BUF_INIT;

    run_json(r, t, nt, 0, &b);
    printf("%s\n", b.data);
    buf_release(&b);
}

/* The boots that saw corruption and the per-iteration rate, both with 95% intervals. */
static void print_rates(const struct trial_rec *t, size_t nt)
{
    struct run_rates r;

    run_rates(t, nt, &r);
    if (r.iterations <= 0) {
        printf("rate:        no iterations ran, nothing can be said about the bug\n");
        return;
    }
    printf("boots:       %ld of %ld saw corruption (95%% interval of the share: %.3g-%.3g)\n",
           r.boots_corrupt, r.boots, r.share_lo, r.share_hi);
    if (r.corruptions == 0)
        printf("rate:        0 of %lld iterations; per-iteration corruption rate < %.3g "
               "(95%% upper bound)\n",
               r.iterations, r.rate_hi);
    else
        printf("rate:        %lld of %lld iterations = %.3g per iteration, 95%% interval "
               "[%.3g, %.3g]%s\n",
               r.corruptions, r.iterations, r.rate, r.rate_lo, r.rate_hi,
               r.dispersion > 1.5 ? " (wide: the boots disagree, and iterations within a "
                                    "boot are not independent)"
                                  : "");
}

/* "xen:  4.17 = xen-hypervisor-4.17-amd64 4.17.7...", or for a file, its sha256. */
static void print_artifact(const char *what, const char *spec, const char *package,
                           const char *version, const char *sha256)
{
    char label[16];

    snprintf(label, sizeof(label), "%s:", what);
    if (package)
        printf("%-12s %s = %s %s\n", label, spec ? spec : "?", package, version ? version : "");
    else
        printf("%-12s %s (sha256 %.16s)\n", label, spec ? spec : "?", sha256 ? sha256 : "?");
}

/* A domU trial's places (verdict, iterations, kernel) and dom0's stage times, indented. */
static void print_places(const char *places_json)
{
    json_t *root = places_json ? json_loads(places_json, 0, NULL) : NULL;
    json_t *places = json_object_get(root, "places"), *stages = json_object_get(root, "stages");
    size_t i;
    json_t *p;

    json_array_foreach(places, i, p)
    {
        const char *k = json_string_value(json_object_get(p, "kernel"));
        printf("             %-5s %-5s %lld iterations, %lld corruptions, kernel %s%s%s\n",
               json_string_value(json_object_get(p, "name")),
               json_string_value(json_object_get(p, "verdict")),
               (long long)json_integer_value(json_object_get(p, "iterations")),
               (long long)json_integer_value(json_object_get(p, "corruptions")), k ? k : "?",
               strcmp(json_string_value(json_object_get(p, "verdict")) ?: "", "pass") ? ": " : "",
               strcmp(json_string_value(json_object_get(p, "verdict")) ?: "", "pass")
                   ? json_string_value(json_object_get(p, "reason")) ?: ""
                   : "");
    }
    if (json_array_size(stages)) {
        printf("             dom0 stages (s of dom0 uptime):");
        json_array_foreach(stages, i, p)
        {
            const char *pl = json_string_value(json_object_get(p, "place"));
            printf(" %s%s%s %.1f", json_string_value(json_object_get(p, "stage")), pl ? " " : "",
                   pl ? pl : "", (double)json_integer_value(json_object_get(p, "ms")) / 1000.0);
        }
        printf("\n");
    }
    json_decref(root);
}

/* Snapshot runs: the corruption rate of the restored trials next to the booted ones'. */
static void print_snapshot_rates(const struct trial_rec *t, size_t nt)
{
    long long it[2] = { 0, 0 }, c[2] = { 0, 0 };
    long boots[2] = { 0, 0 };
    int any = 0;

    for (size_t i = 0; i < nt; i++) {
        int k;
        if (!t[i].snapshot || !t[i].verdict ||
            (strcmp(t[i].verdict, "pass") && strcmp(t[i].verdict, "fail")))
            continue;
        k = !strncmp(t[i].snapshot, "restored", 8);
        any |= k;
        it[k] += t[i].iterations;
        c[k] += t[i].corruptions;
        boots[k]++;
    }
    if (!any)
        return;
    printf("by origin:   restored %lld of %lld iterations in %ld trial%s; booted %lld of %lld in "
           "%ld\n",
           c[1], it[1], boots[1], boots[1] == 1 ? "" : "s", c[0], it[0], boots[0]);
}

void cli_print_run_human(const struct run_rec *r, const struct trial_rec *t, size_t nt)
{
    printf("run %lld     %s, %s, %s\n", r->id, r->repro ? r->repro : "?",
           r->status ? r->status : "?", r->created ? r->created : "");
    print_artifact("xen", r->xen_spec, r->xen_package, r->xen_version, r->xen_sha256);
    print_artifact("linux", r->linux_spec, r->linux_package, r->linux_version, r->linux_sha256);
    printf("host:        %s, %s, cpu %s, L0 %s\n", r->qemu_version ? r->qemu_version : "?",
           r->accel ? r->accel : "?", r->cpu_model ? r->cpu_model : "?",
           r->l0_kernel ? r->l0_kernel : "?");
    if (r->accel_note)
        printf("accel:       %s\n", r->accel_note);
    for (size_t i = 0; i < nt; i++) {
        printf("trial %-5d  %-5s %5.1f s  %s\n", t[i].idx, t[i].verdict,
               (double)t[i].wall_ms / 1000.0, t[i].reason ? t[i].reason : "");
        if (t[i].places_json)
            print_places(t[i].places_json);
        printf("             log: %s\n", t[i].log_path ? t[i].log_path : "-");
        if (t[i].snapshot)
            printf("             machine: %s\n",
                   !strncmp(t[i].snapshot, "restored", 8) ? t[i].snapshot
                   : !strncmp(t[i].snapshot, "made", 4)   ? "booted (and saved as the snapshot)"
                                                          : "booted");
    }
    printf("verdict:     %s (%ld pass, %ld fail, %ld infra of %d planned)\n",
           r->verdict ? r->verdict : "none", r->trials_pass, r->trials_fail, r->trials_infra,
           r->trials_planned);
    print_rates(t, nt);
    print_snapshot_rates(t, nt);
}
