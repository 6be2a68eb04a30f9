/* pvlab host: the lab's footing on this machine, for a user or a bug report. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lab/host.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/sv.h"

static const char usage[] =
    "usage: pvlab host [--json] [--reprobe] [--cpu MODEL]...\n"
    "\n"
    "Prints the host stack trials run on: QEMU and its version, the accelerator pvlab uses and\n"
    "why (a probe guest decides: KVM only when a guest really runs on it and is not slower\n"
    "than TCG), the CPU models that run the probe guest, cores, memory, free disk under the\n"
    "cache and state directories, and the tools pvlab calls.\n"
    "\n"
    "  --reprobe      ignore the cached accelerator decision and probe again\n"
    "  --cpu MODEL    also probe this QEMU CPU model under the chosen accelerator (repeatable)\n"
    "  --json         print the report as JSON on stdout\n"
    "\n"
    "Exit status: 0 when this host can run the lab's guests, 3 when it cannot (the report says\n"
    "why), 2 on usage errors.\n";

static void probe_json(struct jw *w, const char *key, const char *model, const char *accel,
                       const struct accel_probe *p)
{
    if (key)
        jw_key(w, key);
    jw_obj(w);
    jw_kv_s(w, "model", model);
    jw_kv_s(w, "accel", accel);
    jw_kv_bool(w, "probed", p->stage != NULL);
    if (p->stage) {
        jw_kv_bool(w, "ok", p->ok);
        jw_kv_int(w, "ms", p->ms);
        jw_kv_s(w, "stage", p->stage);
        jw_kv_s(w, "reason", p->reason);
    }
    jw_end(w);
}

static void print_json(const struct config *cfg, const struct host_report *r)
{
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_bool(&w, "ok", r->problem == NULL);
    jw_kv_s(&w, "problem", r->problem);
    jw_key(&w, "qemu");
    jw_obj(&w);
    jw_kv_s(&w, "binary", r->stack.qemu_binary);
    jw_kv_s(&w, "version", r->stack.qemu_version);
    jw_end(&w);
    jw_key(&w, "accel");
    jw_obj(&w);
    jw_kv_s(&w, "policy", accel_policy_name(cfg->accel));
    jw_kv_s(&w, "chosen", r->stack.accel);
    jw_kv_s(&w, "cpu_model", r->stack.cpu_model);
    jw_kv_s(&w, "note", r->stack.accel_note);
    jw_kv_bool(&w, "cached", r->accel.cached);
    jw_kv_s(&w, "kvm_device", cfg->kvm_device);
    jw_end(&w);
    jw_key(&w, "cpu_models");
    jw_arr(&w);
    probe_json(&w, NULL, cfg->cpu_kvm, "kvm", &r->accel.kvm);
    probe_json(&w, NULL, cfg->cpu_tcg, "tcg", &r->accel.tcg);
    for (size_t i = 0; i < r->ncpus; i++)
        probe_json(&w, NULL, r->cpus[i].model, r->cpus[i].accel, &r->cpus[i].probe);
    jw_end(&w);
    jw_key(&w, "machine");
    jw_obj(&w);
    jw_kv_s(&w, "hostname", r->stack.hostname);
    jw_kv_s(&w, "l0_kernel", r->stack.l0_kernel);
    jw_kv_int(&w, "cores", r->cores);
    jw_kv_int(&w, "mem_total_kb", r->mem_total_kb);
    jw_kv_int(&w, "mem_available_kb", r->mem_avail_kb);
    jw_end(&w);
    jw_key(&w, "paths");
    jw_obj(&w);
    jw_kv_s(&w, "cache_dir", cfg->cache_dir);
    jw_kv_int(&w, "cache_free_bytes", r->cache_free);
    jw_kv_s(&w, "state_dir", cfg->state_dir);
    jw_kv_int(&w, "state_free_bytes", r->state_free);
    jw_kv_s(&w, "config_files", cfg->loaded_files);
    jw_end(&w);
    jw_key(&w, "tools");
    jw_arr(&w);
    for (size_t i = 0; i < r->ntools; i++) {
        jw_obj(&w);
        jw_kv_s(&w, "name", r->tools[i].name);
        jw_kv_s(&w, "path", r->tools[i].path);
        jw_kv_s(&w, "package", r->tools[i].package);
        jw_kv_s(&w, "use", r->tools[i].use);
        jw_end(&w);
    }
    jw_end(&w);
    jw_end(&w);
    printf("%s\n", b.data);
    buf_release(&b);
}

static void print_probe(const char *model, const char *accel, const struct accel_probe *p)
{
    printf("             %-18s %s: ", model, accel);
    if (!p->stage)
        printf("not tried\n");
    else if (p->ok)
        printf("runs the probe guest (%.2f s)\n", (double)p->ms / 1000.0);
    else
        printf("FAILS: %s\n", p->reason ? p->reason : "?");
}

static double gib(long long bytes)
{
    return (double)bytes / (double)(1LL << 30);
}

static void print_human(const struct config *cfg, const struct host_report *r)
{
    printf("qemu:        %s, %s\n", r->stack.qemu_binary ? r->stack.qemu_binary : "NOT FOUND",
           r->stack.qemu_version ? r->stack.qemu_version : "-");
    if (r->stack.accel)
        printf("accel:       %s, cpu %s (policy %s%s)\n             %s\n", r->stack.accel,
               r->stack.cpu_model, accel_policy_name(cfg->accel),
               r->accel.cached ? ", cached decision; --reprobe to probe again" : "",
               r->stack.accel_note);
    printf("cpu models:\n");
    print_probe(cfg->cpu_kvm, "kvm", &r->accel.kvm);
    print_probe(cfg->cpu_tcg, "tcg", &r->accel.tcg);
    for (size_t i = 0; i < r->ncpus; i++)
        print_probe(r->cpus[i].model, r->cpus[i].accel, &r->cpus[i].probe);
    printf("machine:     %s, L0 kernel %s, %d cores, %.1f GiB memory (%.1f GiB available)\n",
           r->stack.hostname ? r->stack.hostname : "?",
           r->stack.l0_kernel ? r->stack.l0_kernel : "?", r->cores,
           (double)r->mem_total_kb / (1 << 20), (double)r->mem_avail_kb / (1 << 20));
    printf("cache:       %s (%.1f GiB free)\n", cfg->cache_dir, gib(r->cache_free));
    printf("state:       %s (%.1f GiB free)\n", cfg->state_dir, gib(r->state_free));
    printf("config:      %s\n", cfg->loaded_files ? cfg->loaded_files : "built-in defaults");
    printf("tools:\n");
    for (size_t i = 0; i < r->ntools; i++) {
        if (r->tools[i].path)
            printf("             %-12s %s\n", r->tools[i].name, r->tools[i].path);
        else
            printf("             %-12s missing: apt-get install %s (for %s)\n", r->tools[i].name,
                   r->tools[i].package, r->tools[i].use);
    }
    if (r->problem)
        printf("PROBLEM:     %s\n", r->problem);
}

int cmd_host(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "reprobe", no_argument, NULL, 'r' },
        { "cpu", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct host_report r;
    struct sv cpus = SV_INIT;
    struct err e = ERR_INIT;
    int reprobe = 0, opt, rc = EXIT_ERROR;

    memset(&r, 0, sizeof(r));
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'j': c->json = 1; break;
        case 'r': reprobe = 1; break;
        case 'c': sv_push(&cpus, optarg); break;
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
    if (optind < argc) {
        fprintf(stderr, "pvlab: error: unexpected argument '%s'\n", argv[optind]);
        rc = EXIT_USAGE;
        goto out;
    }
    if (cli_config(c, &e) < 0 ||
        host_report(&c->cfg, reprobe, (const char *const *)sv_argv(&cpus), &r, &e) < 0) {
        cli_error(&e);
        goto out;
    }
    if (c->json)
        print_json(&c->cfg, &r);
    else
        print_human(&c->cfg, &r);
    rc = r.problem ? EXIT_ERROR : 0;
out:
    host_report_free(&r);
    sv_clear(&cpus);
    return rc;
}
