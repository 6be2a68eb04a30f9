#include "jobs/run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "images/payload.h"
#include "images/plugin.h"
#include "jobs/pool.h"
#include "lab/accel.h"
#include "lab/libvirt.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/stats.h"
#include "util/xalloc.h"

static void stage(const struct run_events *ev, const char *what, const char *detail)
{
    if (ev && ev->stage)
        ev->stage(ev->ctx, what, detail);
    log_info("run", "%s: %s", what, detail ? detail : "");
}

static void kernels_progress(void *ctx, const char *what, const char *detail)
{
    stage(ctx, what, detail);
}

void run_request_defaults(const struct config *cfg, struct run_request *rq)
{
    memset(rq, 0, sizeof(*rq));
    rq->xen_spec = cfg->run_xen;
    rq->linux_spec = cfg->run_linux;
    rq->repro = cfg->run_repro;
    rq->trials = cfg->run_trials;
    rq->iterations = cfg->run_iterations;
    rq->jobs = cfg->run_jobs;
    rq->fresh_every = cfg->run_fresh_every;
}

void run_request_merge(const struct config *cfg, const struct run_request *over,
                       struct run_request *rq)
{
    run_request_defaults(cfg, rq);
    if (over->xen_spec)
        rq->xen_spec = over->xen_spec;
    if (over->linux_spec)
        rq->linux_spec = over->linux_spec;
    if (over->repro)
        rq->repro = over->repro;
    rq->repro_args = over->repro_args;
    if (over->fresh_every >= 0)
        rq->fresh_every = over->fresh_every;
    if (over->trials)
        rq->trials = over->trials;
    if (over->iterations)
        rq->iterations = over->iterations;
    if (over->jobs)
        rq->jobs = over->jobs;
    rq->workers = over->workers;
    rq->lazy_fpu = over->lazy_fpu;
    rq->amplifiers = over->amplifiers;
    rq->self_test_corrupt = over->self_test_corrupt;
    rq->seed = over->seed;
    rq->dom0_args = over->dom0_args;
    rq->xen_args = over->xen_args;
    rq->boot_timeout_s = over->boot_timeout_s;
    rq->run_timeout_s = over->run_timeout_s;
    rq->domus = over->domus;
    for (int i = 0; i < over->n_domu_linux && i < RUN_MAX_DOMUS; i++)
        rq->domu_linux[i] = over->domu_linux[i];
    rq->n_domu_linux = over->n_domu_linux;
    rq->domu_mem_mb = over->domu_mem_mb;
    rq->domu_vcpus = over->domu_vcpus;
    rq->in_dom0 = over->in_dom0;
    rq->corrupt_in = over->corrupt_in;
    rq->cpu_model = over->cpu_model;
    rq->backend = over->backend ? over->backend : cfg->lab_backend;
    rq->libvirt_uri = over->libvirt_uri ? over->libvirt_uri : cfg->libvirt_uri;
}

/* The kernel spec of domU i (0-based). */
static const char *domu_spec(const struct run_request *rq, int i)
{
    if (!rq->n_domu_linux)
        return rq->linux_spec;
    return rq->domu_linux[i < rq->n_domu_linux ? i : rq->n_domu_linux - 1];
}

/* The MiB given to dom0 by a Xen command line's dom0_mem=NNN[MG] (0 when not given). */
static long dom0_mem_mb(const char *xen_cmdline)
{
    const char *p = xen_cmdline ? strstr(xen_cmdline, "dom0_mem=") : NULL;
    char *end;
    long v;

    if (!p)
        return 0;
    v = strtol(p + 9, &end, 10);
    if (*end == 'G' || *end == 'g')
        v *= 1024;
    else if (*end == 'K' || *end == 'k')
        v /= 1024;
    return v;
}

/* Checks the domU part of a request: counts, memory that dom0's host can give, names. */
static int check_domus(const struct config *cfg, const struct run_request *rq,
                       const char *xen_cmdline, struct err *e)
{
    long need, d0;

    if (rq->domus < 0 || rq->domus > RUN_MAX_DOMUS) {
        err_set(e, ERR_USAGE, "--domus must be 1..%d (got %d)", RUN_MAX_DOMUS, rq->domus);
        return -1;
    }
    if (!rq->domus && (rq->n_domu_linux || rq->in_dom0 || rq->corrupt_in)) {
        err_set(e, ERR_USAGE, "--domu-linux, --in and --self-test-in need domUs (--domus N)");
        return -1;
    }
    if (!rq->domus)
        return 0;
    if (rq->n_domu_linux > rq->domus) {
        err_set(e, ERR_USAGE, "%d --domu-linux kernels for %d domUs", rq->n_domu_linux, rq->domus);
        return -1;
    }
    if (rq->domu_mem_mb && (rq->domu_mem_mb < 64 || rq->domu_mem_mb > 65536)) {
        err_set(e, ERR_USAGE, "--domu-mem must be 64..65536 MiB (got %d)", rq->domu_mem_mb);
        return -1;
    }
    if (rq->domu_vcpus < 0 || rq->domu_vcpus > 64) {
        err_set(e, ERR_USAGE, "--domu-vcpus must be 1..64 (got %d)", rq->domu_vcpus);
        return -1;
    }
    /* Xen keeps some memory for itself and the domains' page tables: 64 MiB is the margin */
    d0 = dom0_mem_mb(xen_cmdline);
    need = (long)rq->domus * (rq->domu_mem_mb ? rq->domu_mem_mb : RUN_DOMU_MEM_MB) + d0 + 64;
    if (need > cfg->memory_mb) {
        err_set(e, ERR_USAGE,
                "%d domUs of %d MiB do not fit: the L1 host has %d MiB and dom0 takes %ld "
                "(dom0_mem in the Xen command line), with 64 MiB for Xen; use fewer domUs, "
                "--domu-mem, or a larger [lab] memory_mb",
                rq->domus, rq->domu_mem_mb ? rq->domu_mem_mb : RUN_DOMU_MEM_MB, cfg->memory_mb, d0);
        return -1;
    }
    if (rq->corrupt_in) {
        struct sv names = SV_INIT;
        int bad = 0;
        sv_split(&names, rq->corrupt_in, ",");
        for (size_t i = 0; i < names.n && !bad; i++) {
            const char *n = names.v[i];
            int idx = n[0] == 'd' && n[1] >= '1' && n[1] <= '9' && !n[2] ? n[1] - '0' : 0;
            bad = !(strcmp(n, "all") == 0 || (strcmp(n, "dom0") == 0 && rq->in_dom0) ||
                    (idx >= 1 && idx <= rq->domus));
            if (bad)
                err_set(e, ERR_USAGE,
                        "--self-test-in: no place '%s' (the places are d1..d%d%s, or all)", n,
                        rq->domus, rq->in_dom0 ? " and dom0" : "");
        }
        sv_clear(&names);
        if (bad)
            return -1;
    }
    return 0;
}

int run_exit_code(const char *verdict)
{
    if (verdict && !strcmp(verdict, "pass"))
        return 0;
    if (verdict && !strcmp(verdict, "fail"))
        return 1;
    return 125;
}

/* The reproducer's guest parameters of this plan, with a given seed. */
static void plan_repro_params(const struct run_plan *plan, unsigned long seed,
                              struct repro_params *rp)
{
    const struct run_request *rq = &plan->req;

    memset(rp, 0, sizeof(*rp));
    rp->repro = plugin_is_spec(rq->repro) ? "plugin" : rq->repro;
    rp->iterations = rq->iterations;
    rp->workers = rq->workers;
    rp->self_test_corrupt = rq->self_test_corrupt;
    rp->seed = seed;
    rp->amplifiers = plan->amplifiers;
}

/* The plan's plug-in as the initramfs builders take it (in *pl), or NULL for a built-in. */
static const struct payload_plugin *plan_payload_plugin(const struct run_plan *plan,
                                                        struct payload_plugin *pl)
{
    if (!plan->plugin)
        return NULL;
    pl->name = plan->plugin->name;
    pl->program = plan->plugin->program;
    pl->manifest = plan->plugin_manifest;
    return pl;
}

/* Composes the dom0 command line: config, reproducer parameters, amplifiers, user extras. */
static int compose_dom0_cmdline(struct run_plan *plan, struct err *e)
{
    const struct run_request *rq = &plan->req;
    struct repro_params rp;
    struct buf b = BUF_INIT, w = BUF_INIT;
    int rc = -1;

    buf_adds(&b, plan->cfg->dom0_cmdline);
    if (rq->domus) /* dom0 runs the toolstack supervisor; the reproducer runs in the domUs */
        buf_addf(&b,
                 " rdinit=/pvlab/domus.sh pvlab.domus=%d pvlab.domu_mem=%d pvlab.domu_vcpus=%d "
                 "pvlab.in_dom0=%d pvlab.corrupt_in=%s pvlab.lazy_fpu=%d",
                 rq->domus, rq->domu_mem_mb ? rq->domu_mem_mb : RUN_DOMU_MEM_MB,
                 rq->domu_vcpus ? rq->domu_vcpus : 2, rq->in_dom0,
                 rq->corrupt_in ? rq->corrupt_in : "all", rq->lazy_fpu);
    plan_repro_params(plan, rq->seed, &rp);
    /* checked either way; with snapshots the words come in each trial's START line instead */
    if (repro_cmdline(&rp, plan->snapshots ? &w : &b, e) < 0)
        goto out;
    if (plan->snapshots)
        buf_adds(&b, " pvlab.snapshot=1");
    if (rq->lazy_fpu)
        buf_adds(&b, " eagerfpu=off");
    if (rq->dom0_args && *rq->dom0_args)
        buf_addf(&b, " %s", rq->dom0_args);
    plan->dom0_cmdline = buf_detach(&b, NULL);
    rc = 0;
out:
    buf_release(&b);
    buf_release(&w);
    return rc;
}

static char *params_json(const struct run_plan *plan)
{
    const struct run_request *rq = &plan->req;
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_int(&w, "iterations", rq->iterations);
    jw_kv_int(&w, "workers", rq->workers);
    jw_kv_bool(&w, "lazy_fpu", rq->lazy_fpu);
    if (rq->backend && !strcmp(rq->backend, "libvirt")) {
        jw_kv_s(&w, "backend", "libvirt");
        jw_kv_s(&w, "libvirt_uri", rq->libvirt_uri);
    }
    if (plan->amplifiers) {
        struct buf a = BUF_INIT;
        amplifier_names(plan->amplifiers, &a);
        jw_kv_s(&w, "amplifiers", a.data);
        buf_release(&a);
    }
    jw_kv_dbl(&w, "self_test_corrupt", rq->self_test_corrupt);
    jw_kv_int(&w, "seed", (long long)rq->seed);
    jw_kv_s(&w, "xen_cmdline", plan->xen_cmdline);
    jw_kv_s(&w, "dom0_cmdline", plan->dom0_cmdline);
    jw_kv_int(&w, "boot_timeout_s", plan->boot_timeout_s);
    jw_kv_int(&w, "run_timeout_s", plan->run_timeout_s);
    if (plan->snap_path) {
        const char *base = strrchr(plan->snap_path, '/');
        jw_kv_int(&w, "fresh_boot_every", rq->fresh_every);
        jw_kv_s(&w, "snapshot", base ? base + 1 : plan->snap_path);
    }
    if (plan->plugin) {
        jw_key(&w, "plugin");
        plugin_describe_json(plan->plugin, &w);
        if (rq->repro_args)
            jw_kv_s(&w, "repro_args", rq->repro_args);
    }
    if (rq->domus) {
        jw_kv_int(&w, "domus", rq->domus);
        jw_kv_int(&w, "domu_mem_mb", rq->domu_mem_mb ? rq->domu_mem_mb : RUN_DOMU_MEM_MB);
        jw_kv_int(&w, "domu_vcpus", rq->domu_vcpus ? rq->domu_vcpus : 2);
        jw_kv_bool(&w, "in_dom0", rq->in_dom0);
        if (rq->corrupt_in)
            jw_kv_s(&w, "self_test_in", rq->corrupt_in);
        jw_key(&w, "domu");
        jw_arr(&w);
        for (int i = 0; i < rq->domus; i++) {
            const struct artifact *a = &plan->domu[i];
            jw_obj(&w);
            char nm[8];
            snprintf(nm, sizeof(nm), "d%d", i + 1);
            jw_kv_s(&w, "name", nm);
            jw_kv_s(&w, "linux_spec", domu_spec(rq, i));
            jw_kv_s(&w, "linux_version", a->version);
            jw_kv_s(&w, "linux_package", a->package);
            jw_kv_s(&w, "linux_sha256", a->sha256);
            jw_end(&w);
        }
        jw_end(&w);
    }
    jw_end(&w);
    return buf_detach(&b, NULL);
}

/* A trial's QEMU command line, shell-quoted, as the store shows it. */
static char *qemu_cmd_line(const struct run_plan *plan)
{
    struct sv argv = SV_INIT;
    struct qemu_cfg q;
    struct buf cmd = BUF_INIT;

    run_qemu_cfg(plan, "CONSOLE.log", &q);
    if (qemu_build_argv(&q, &argv, NULL) == 0)
        qemu_shell_quote(&cmd, sv_argv(&argv));
    sv_clear(&argv);
    return buf_detach(&cmd, NULL);
}

int run_plan_init(const struct config *cfg, const struct run_request *req, struct run_plan *plan,
                  struct err *e)
{
    memset(plan, 0, sizeof(*plan));
    plan->cfg = cfg;
    plan->req = *req;
    for (int i = 0; i < req->n_domu_linux && i < RUN_MAX_DOMUS; i++) {
        plan->domu_specs[i] = xstrdup(req->domu_linux[i]);
        plan->req.domu_linux[i] = plan->domu_specs[i];
    }
    plan->corrupt_in = req->corrupt_in ? xstrdup(req->corrupt_in) : NULL;
    plan->req.corrupt_in = plan->corrupt_in;
    if (!plan->req.seed)
        plan->req.seed = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
    if (!repro_find(req->repro) && !plugin_is_spec(req->repro)) {
        struct buf names = BUF_INIT;
        repro_names(&names);
        err_set(e, ERR_NOTFOUND, "unknown reproducer '%s'; known: %s", req->repro, names.data);
        buf_release(&names);
        return -1;
    }
    if (req->backend && strcmp(req->backend, "qemu") && strcmp(req->backend, "libvirt")) {
        err_set(e, ERR_USAGE, "--backend must be qemu or libvirt (got '%s')", req->backend);
        return -1;
    }
    if (req->repro_args && !plugin_is_spec(req->repro)) {
        err_set(e, ERR_USAGE,
                "--repro-args is for plug-ins (script:FILE, c:FILE); %s takes "
                "--iterations, --workers and the other run options",
                req->repro);
        return -1;
    }
    if (plan->req.jobs < 1)
        plan->req.jobs = 1;
    if (plan->req.jobs > 64) {
        err_set(e, ERR_USAGE, "--jobs must be between 1 and 64 (got %d)", plan->req.jobs);
        return -1;
    }
    if (req->trials < 1 || req->trials > 100000) {
        err_set(e, ERR_USAGE, "--trials must be between 1 and 100000 (got %d)", req->trials);
        return -1;
    }
    if (check_domus(cfg, req, cfg->xen_cmdline, e) < 0)
        return -1;
    if (amplifier_parse(req->amplifiers, &plan->amplifiers, e) < 0)
        return -1;
    if (plan->amplifiers & AMP_LAZY_FPU) /* the same switch as --lazy-fpu */
        plan->req.lazy_fpu = 1;
    if (plan->req.lazy_fpu)
        plan->amplifiers |= AMP_LAZY_FPU;
    plan->snapshots = plan->req.fresh_every != 1 && !req->domus &&
                      !(req->backend && !strcmp(req->backend, "libvirt"));
    if (compose_dom0_cmdline(plan, e) < 0)
        return -1;
    /* the user's words last: their dom0_mem wins over mem-pressure's */
    plan->xen_cmdline = xasprintf("%s%s%s%s", cfg->xen_cmdline,
                                  plan->amplifiers & AMP_MEM_PRESSURE ? " " AMP_DOM0_MEM : "",
                                  req->xen_args && *req->xen_args ? " " : "",
                                  req->xen_args && *req->xen_args ? req->xen_args : "");
    plan->boot_timeout_s = req->boot_timeout_s ? req->boot_timeout_s : cfg->boot_s;
    plan->run_timeout_s =
        req->run_timeout_s
            ? req->run_timeout_s
            : cfg->run_base_s + (int)((long long)cfg->run_per_kiter_s * req->iterations / 1000);
    if (req->domus && !req->run_timeout_s) /* domUs share the host's vCPUs and boot in turn */
        plan->run_timeout_s = plan->run_timeout_s * (req->domus + req->in_dom0) + 60 * req->domus;
    if (req->domus) { /* dom0's deadline for the domUs, inside the host's */
        char *c = xasprintf("%s pvlab.domu_timeout=%d", plan->dom0_cmdline,
                            plan->run_timeout_s > 90 ? plan->run_timeout_s - 30 : 60);
        free(plan->dom0_cmdline);
        plan->dom0_cmdline = c;
    }
    return 0;
}

/* The guest's vCPUs: the request's, else [qemu] smp. */
static int plan_smp(const struct run_plan *plan)
{
    return plan->req.smp > 0 ? plan->req.smp : plan->cfg->smp;
}

/* The saved machine's file: everything that booted is in its name (docs/snapshots.md). */
static char *snap_path(const struct run_plan *plan)
{
    const struct host_stack *h = &plan->host;
    struct buf k = BUF_INIT;
    char hex[SHA256_HEX_LEN + 1];

    buf_addf(&k, "pvlab-snapshot-1\n%s\n%s\n%s\n%s\n%s\n%d\n%d\n", h->qemu_binary, h->qemu_version,
             h->accel, h->cpu_model, plan->cfg->machine, plan->cfg->memory_mb, plan_smp(plan));
    buf_addf(&k, "%s\n%s\n%s\n%s\n%s\n", plan->xen.sha256, plan->linux_.sha256,
             plan->initramfs_sha256, plan->xen_cmdline, plan->dom0_cmdline);
    sha256_hex_buf(k.data, k.len, hex);
    buf_release(&k);
    return xasprintf("%s/snapshots/%s.mig", plan->cfg->cache_dir, hex);
}

char *run_plan_start_words(const struct run_plan *plan, int idx)
{
    /* every trial its own seed: restored trials must not replay each other */
    unsigned long seed =
        (unsigned long)((plan->req.seed + (unsigned long long)(idx - 1) * 1000003ULL) &
                        0xffffffffUL);
    struct repro_params rp;
    struct buf b = BUF_INIT;
    char *words;

    plan_repro_params(plan, seed ? seed : 1, &rp);
    repro_cmdline(&rp, &b, NULL);
    words = xstrdup(b.len ? b.data + 1 : "");
    buf_release(&b);
    return words;
}

void run_plan_finish(struct run_plan *plan)
{
    free(plan->params_json);
    free(plan->qemu_cmd);
    free(plan->snap_path);
    plan->snap_path = NULL;
    if (plan->snapshots && plan->host.qemu_version && plan->initramfs_sha256) {
        char *dir = xasprintf("%s/snapshots", plan->cfg->cache_dir);
        plan->snap_path = snap_path(plan);
        if (fs_mkdirs(dir, NULL) < 0) { /* no room for snapshots: every trial boots */
            free(plan->snap_path);
            plan->snap_path = NULL;
        }
        free(dir);
    }
    plan->params_json = params_json(plan);
    plan->qemu_cmd = qemu_cmd_line(plan);
}

/* The Xen command line with eager FPU switching ahead of the user's words. */
static char *req_xen_eager(const struct run_plan *plan)
{
    const struct run_request *rq = &plan->req;
    return rq->xen_args && *rq->xen_args
               ? xasprintf("%s spec-ctrl=eager-fpu %s", plan->cfg->xen_cmdline, rq->xen_args)
               : xasprintf("%s spec-ctrl=eager-fpu", plan->cfg->xen_cmdline);
}

/*
 * The domU part of run_prepare: each domU's kernel (as an ELF), the toolstack of the Xen, the
 * dom0 kernel's Xen modules, then the dom0 initramfs that carries them. Under TCG, Xen's lazy
 * FPU switching between domains leaks register state across domains here (docs/domu.md), so
 * Xen runs with eager FPU switching (before the user's --xen-args, which can undo it).
 */
int run_plan_domus(struct run_plan *plan, const struct kernels_opts *ko,
                   const struct run_events *ev, struct err *e)
{
    const struct run_request *rq = &plan->req;
    const char *names[RUN_MAX_DOMUS], *elfs[RUN_MAX_DOMUS];
    char name_buf[RUN_MAX_DOMUS][8];
    struct domus_payload dp = { 0 };
    struct payload_plugin pl;
    struct kernels_opts dko = *ko;

    dko.linux_domu = 1; /* a domU kernel from source gets the domU fragment */
    for (int i = 0; i < rq->domus; i++) {
        const char *spec = domu_spec(rq, i);
        stage(ev, "fetch", spec);
        if (i > 0 && !strcmp(spec, domu_spec(rq, i - 1))) {
            artifact_copy(&plan->domu[i], &plan->domu[i - 1]);
            plan->domu_elf[i] = xstrdup(plan->domu_elf[i - 1]);
        } else if (artifact_resolve(&dko, ARTIFACT_LINUX, spec, &plan->domu[i], e) < 0 ||
                   kernel_pv_elf(ko, &plan->domu[i], &plan->domu_elf[i], e) < 0) {
            err_prefix(e, "domU d%d kernel", i + 1);
            return -1;
        }
        snprintf(name_buf[i], sizeof(name_buf[i]), "d%d", i + 1);
        names[i] = name_buf[i];
        elfs[i] = plan->domu_elf[i];
    }
    stage(ev, "fetch", "dom0 toolstack");
    if (toolstack_resolve(ko, &plan->xen, &plan->toolstack_dir, e) < 0 ||
        dom0_xen_modules(ko, &plan->linux_, &plan->modules_dir, e) < 0)
        return -1;
    stage(ev, "build image", "dom0 initramfs with the toolstack and domU kernels");
    free(plan->initramfs);
    free(plan->initramfs_sha256);
    plan->initramfs = plan->initramfs_sha256 = NULL;
    dp.toolstack_dir = plan->toolstack_dir;
    dp.modules_dir = plan->modules_dir;
    dp.n = (size_t)rq->domus;
    dp.names = names;
    dp.kernels = elfs;
    dp.plugin = plan_payload_plugin(plan, &pl);
    if (payload_domus_initramfs(plan->cfg->cache_dir, &dp, &plan->initramfs,
                                &plan->initramfs_sha256, e) < 0)
        return -1;
    if (!strcmp(plan->host.accel, "tcg")) {
        char *x = req_xen_eager(plan);
        free(plan->xen_cmdline);
        plan->xen_cmdline = x;
    }
    run_plan_finish(plan);
    return 0;
}

/*
 * A run's own QEMU CPU model: it must boot the probe guest under the chosen accelerator (a
 * model QEMU does not know, or one a guest cannot run on, fails here in a second rather than as
 * an infra verdict per trial). Recorded in the host stack like the configured one.
 */
static int use_cpu_model(struct run_plan *plan, const char *model, struct err *e)
{
    struct accel_probe p = { 0 };
    int rc = -1;

    if (!*model || strpbrk(model, " \t\n")) {
        err_set(e, ERR_USAGE, "--cpu-model '%s' is not a QEMU CPU model (e.g. max,-smap,-avx)",
                model);
        return -1;
    }
    if (accel_probe_run(plan->host.qemu_binary, plan->cfg->machine, plan->host.accel, model,
                        !strcmp(plan->host.accel, "kvm") ? plan->cfg->probe_timeout_s * 1000
                                                         : 60000,
                        &p, e) < 0)
        goto out;
    if (!p.ok) {
        err_set(e, ERR_USAGE,
                "--cpu-model %s: a probe guest does not run under %s with it (%s); "
                "`qemu-system-x86_64 -cpu help` lists the models, `pvlab host --cpu MODEL` "
                "probes one",
                model, plan->host.accel, p.reason ? p.reason : "no reason given");
        goto out;
    }
    free(plan->host.cpu_model);
    plan->host.cpu_model = xstrdup(model);
    rc = 0;
out:
    accel_probe_free(&p);
    return rc;
}

int run_plan_plugin(struct run_plan *plan, const struct run_events *ev, struct err *e)
{
    const struct run_request *rq = &plan->req;
    struct payload_plugin pl;
    struct plugin *p;
    struct buf m = BUF_INIT;
    int rc = -1;

    if (!plugin_is_spec(rq->repro))
        return 0;
    stage(ev, "build image", rq->repro);
    p = xcalloc(1, sizeof(*p));
    if (plugin_load(rq->repro, p, e) < 0 || plugin_build(p, plan->cfg->cache_dir, e) < 0)
        goto out;
    if (rq->domus && !rq->in_dom0 && !(p->runs_in & PLUGIN_IN_DOMU)) {
        err_set(e, ERR_USAGE,
                "reproducer %s runs in dom0 only (its runs-in); drop --domus or "
                "run it with --in dom0",
                p->name);
        goto out;
    }
    if ((!rq->domus || rq->in_dom0) && !(p->runs_in & PLUGIN_IN_DOM0)) {
        err_set(e, ERR_USAGE, "reproducer %s runs in domUs only (its runs-in); add --domus N",
                p->name);
        goto out;
    }
    if (p->compiled)
        stage(ev, "compiled", p->program);
    if (plugin_guest_manifest(p, rq->repro_args, &m, e) < 0)
        goto out;
    plan->plugin = p;
    p = NULL;
    plan->plugin_manifest = buf_detach(&m, NULL);
    if (!rq->domus) {
        free(plan->initramfs);
        free(plan->initramfs_sha256);
        plan->initramfs = plan->initramfs_sha256 = NULL;
        if (payload_initramfs(plan->cfg->cache_dir, plan_payload_plugin(plan, &pl),
                              &plan->initramfs, &plan->initramfs_sha256, e) < 0)
            goto out;
    }
    rc = 0;
out:
    if (p)
        plugin_free(p);
    free(p);
    buf_release(&m);
    if (rc < 0)
        err_prefix(e, "reproducer %s", rq->repro);
    return rc;
}

int run_prepare(const struct config *cfg, const struct run_request *req,
                const struct run_events *ev, struct run_plan *plan, struct err *e)
{
    struct kernels_opts ko = { 0 };

    if (run_plan_init(cfg, req, plan, e) < 0)
        return -1;
    /* both specs are checked before anything is probed or fetched: a bad --linux must not wait
     * for the Xen package to download */
    if (artifact_check_spec(ARTIFACT_XEN, req->xen_spec, e) < 0 ||
        artifact_check_spec(ARTIFACT_LINUX, req->linux_spec, e) < 0)
        return -1;
    for (int i = 0; i < req->n_domu_linux; i++)
        if (artifact_check_spec(ARTIFACT_LINUX, req->domu_linux[i], e) < 0) {
            err_prefix(e, "--domu-linux");
            return -1;
        }
    stage(ev, "check", "QEMU and accelerator");
    if (host_probe(cfg, &plan->host, e) < 0)
        return -1;
    if (req->cpu_model && use_cpu_model(plan, req->cpu_model, e) < 0)
        return -1;
    if (req->backend && !strcmp(req->backend, "libvirt")) { /* fail now, not at a trial */
        struct libvirt *lv = NULL;
        stage(ev, "check", "libvirt");
        if (libvirt_open(req->libvirt_uri, &lv, e) < 0)
            return -1;
        libvirt_close(lv);
    }
    if (ev && ev->note)
        ev->note(ev->ctx, plan->host.accel_note);
    log_info("run", "%s", plan->host.accel_note);
    if (fs_check_writable_dir(cfg->cache_dir, e) < 0) {
        err_prefix(e, "cache directory (set [paths] cache_dir or PVLAB_CACHE_DIR)");
        return -1;
    }
    if (fs_check_writable_dir(cfg->state_dir, e) < 0) {
        err_prefix(e, "state directory (set [paths] state_dir or PVLAB_STATE_DIR)");
        return -1;
    }
    ko.cache_dir = cfg->cache_dir;
    ko.mirror = cfg->mirror;
    ko.security_mirror = cfg->security_mirror;
    ko.refresh_hours = cfg->refresh_hours;
    ko.progress = kernels_progress;
    ko.progress_ctx = (void *)ev;
    if (run_plan_plugin(plan, ev, e) < 0) /* a bad plug-in costs no download */
        return -1;
    stage(ev, "fetch", req->xen_spec);
    if (artifact_resolve(&ko, ARTIFACT_XEN, req->xen_spec, &plan->xen, e) < 0)
        return -1;
    stage(ev, "fetch", req->linux_spec);
    if (artifact_resolve(&ko, ARTIFACT_LINUX, req->linux_spec, &plan->linux_, e) < 0)
        return -1;
    if (req->domus)
        return run_plan_domus(plan, &ko, ev, e);
    stage(ev, "build image", "initramfs");
    if (!plan->plugin &&
        payload_initramfs(cfg->cache_dir, NULL, &plan->initramfs, &plan->initramfs_sha256, e) < 0)
        return -1;
    run_plan_finish(plan);
    return 0;
}

void run_qemu_cfg(const struct run_plan *plan, const char *serial_log, struct qemu_cfg *q)
{
    memset(q, 0, sizeof(*q));
    q->binary = plan->host.qemu_binary;
    q->machine = plan->cfg->machine;
    q->accel = plan->host.accel;
    q->cpu = plan->host.cpu_model;
    q->memory_mb = plan->cfg->memory_mb;
    q->smp = plan_smp(plan);
    q->xen_path = plan->xen.path;
    q->xen_cmdline = plan->xen_cmdline;
    q->dom0_path = plan->linux_.path;
    q->dom0_cmdline = plan->dom0_cmdline;
    q->initrd_path = plan->initramfs;
    q->serial_log = serial_log;
}

void run_plan_info(const struct run_plan *plan, struct run_info *ri)
{
    memset(ri, 0, sizeof(*ri));
    ri->xen_spec = plan->req.xen_spec;
    ri->linux_spec = plan->req.linux_spec;
    ri->repro = plan->req.repro;
    ri->params_json = plan->params_json;
    ri->trials_planned = plan->req.trials;
    ri->xen_version = plan->xen.version;
    ri->xen_package = plan->xen.package;
    ri->xen_sha256 = plan->xen.sha256;
    ri->linux_version = plan->linux_.version;
    ri->linux_package = plan->linux_.package;
    ri->linux_sha256 = plan->linux_.sha256;
    ri->initramfs_sha256 = plan->initramfs_sha256;
    ri->qemu_version = plan->host.qemu_version;
    ri->accel = plan->host.accel;
    ri->cpu_model = plan->host.cpu_model;
    ri->l0_kernel = plan->host.l0_kernel;
    ri->hostname = plan->host.hostname;
    ri->qemu_cmd = plan->qemu_cmd;
    ri->accel_note = plan->host.accel_note;
}

void run_plan_job(const struct run_plan *plan, const char *log_path, struct trial_job *j)
{
    memset(j, 0, sizeof(*j));
    j->xen_image = plan->xen.path;
    j->kernel_image = plan->linux_.path;
    j->initramfs = plan->initramfs;
    j->xen_cmdline = plan->xen_cmdline;
    j->dom0_cmdline = plan->dom0_cmdline;
    j->accel = plan->host.accel;
    j->cpu_model = plan->host.cpu_model;
    j->memory_mb = plan->cfg->memory_mb;
    j->smp = plan_smp(plan);
    j->boot_timeout_s = plan->boot_timeout_s;
    j->run_timeout_s = plan->run_timeout_s;
    j->log_path = log_path;
    j->backend = plan->req.backend;
    j->libvirt_uri = plan->req.libvirt_uri;
}

void run_trial_info(const struct trial_outcome *o, long long run_id, int idx, struct trial_info *t)
{
    memset(t, 0, sizeof(*t));
    t->run_id = run_id;
    t->idx = idx;
    t->verdict = o->verdict;
    t->reason = o->reason;
    t->iterations = o->iterations;
    t->corruptions = o->corruptions;
    t->mismatches = o->mismatches;
    t->deaths = o->deaths;
    t->klog_faults = o->klog_faults;
    t->evidence_json = o->evidence_json;
    t->places_json = o->places_json;
    t->snapshot = o->snapshot;
    t->started = o->started;
    t->finished = o->finished;
    t->wall_ms = o->wall_ms;
    t->boot_ms = o->boot_ms;
    t->log_path = o->log_path;
}

struct run_exec {
    const struct run_events *ev;
    int total;
};

static void on_pool_progress(void *ctx, void *tag, const struct trial_progress *p)
{
    struct run_exec *x = ctx;
    if (x->ev && x->ev->trial)
        x->ev->trial(x->ev->ctx, (int)(long)tag, x->total, p);
}

/*
 * Whether a finished trial stops the run, with the reason in e: QEMU failing before any output
 * while no guest of the run has started (the host, not the commit), a trial's setup error, or
 * an interrupt.
 */
static int trial_stops_run(const struct pool_result *r, int guest_started, struct err *e)
{
    if (r->out.host_failure && !guest_started) {
        err_set(e, ERR_HOST,
                "QEMU cannot start a guest on this host: %s; `pvlab host` shows "
                "the host stack",
                r->out.reason ? r->out.reason : "?");
        return 1;
    }
    if (r->interrupted || proc_interrupted()) {
        err_set(e, ERR_INTERRUPTED, "interrupted; the trials finished so far are stored");
        return 1;
    }
    if (r->out.stop) {
        err_set(e, ERR_HOST, "a trial could not run: %s", r->out.reason ? r->out.reason : "?");
        return 1;
    }
    return 0;
}

int run_fresh_boot_due(int fresh_every, int idx)
{
    return fresh_every > 1 && idx % fresh_every == 0;
}

const char *run_plan_snap_mode(const struct run_plan *plan, int idx)
{
    if (!plan->snap_path || run_fresh_boot_due(plan->req.fresh_every, idx))
        return "boot";
    if (trial_snapshot_saved(plan->snap_path))
        return "restore";
    return plan->snap_making ? NULL : "make";
}

int run_plan_snap_job(struct run_plan *plan, int idx, int wait, struct trial_job *j, char **words_r)
{
    const char *mode;

    *words_r = NULL;
    if (!plan->snap_path)
        return 0;
    mode = run_plan_snap_mode(plan, idx);
    if (!mode && wait)
        return 1;
    j->snapshot_mode = mode ? mode : "boot"; /* another trial is saving it: boot this one */
    j->snapshot = plan->snap_path;
    j->start_words = *words_r = run_plan_start_words(plan, idx);
    if (!strcmp(j->snapshot_mode, "make"))
        plan->snap_making = idx;
    return 0;
}

void run_plan_snap_ended(struct run_plan *plan, int idx, const struct trial_outcome *o)
{
    if (idx == plan->snap_making)
        plan->snap_making = 0;
    if (o->snapshot && strstr(o->snapshot, TRIAL_SNAP_BEFORE))
        log_warn("snapshot", "trial %d booted fresh %s", idx,
                 strstr(o->snapshot, TRIAL_SNAP_BEFORE));
}

int run_execute(struct run_plan *plan, struct store *st, const char *config_path,
                const struct run_events *ev, long long *id_r, struct err *e)
{
    struct run_info ri;
    struct run_exec x = { ev, plan->req.trials };
    struct pool_events pev = { NULL, on_pool_progress, NULL, 0, &x };
    struct pool *pool = NULL;
    char *run_dir = NULL;
    long long id = 0;
    int next = 1, guest_started = 0, stopped = 0, rc = -1;
    struct err e2 = ERR_INIT;

    *id_r = 0;
    run_plan_info(plan, &ri);
    if (store_run_begin(st, &ri, &id, e) < 0)
        goto out;
    *id_r = id;
    run_dir = xasprintf("%s/runs/%lld", plan->cfg->state_dir, id);
    if (fs_mkdirs(run_dir, e) < 0)
        goto out_finish;
    pool = pool_new(plan->cfg, config_path, plan->req.jobs, &pev);
    for (;;) {
        struct pool_result r;
        struct trial_info ti;
        int w;

        while (!stopped && next <= plan->req.trials && pool_idle(pool) > 0) {
            struct trial_job job;
            struct pool_task task = { 0 };
            char *log = xasprintf("%s/trial-%d.log", run_dir, next), *words;
            run_plan_job(plan, log, &job);
            if (run_plan_snap_job(plan, next, 1, &job, &words)) {
                free(log); /* the machine is being saved: the next trials restore it */
                break;
            }
            task.kind = POOL_TRIAL;
            task.job = &job;
            task.tag = (void *)(long)next;
            w = pool_start(pool, &task, e);
            free(log);
            free(words);
            if (w < 0)
                goto out_finish;
            next++;
        }
        w = pool_wait(pool, &r, e);
        if (w < 0)
            goto out_finish;
        if (w == 0)
            break;
        run_plan_snap_ended(plan, (int)(long)r.tag, &r.out);
        run_trial_info(&r.out, id, (int)(long)r.tag, &ti);
        w = store_trial_add(st, &ti, e);
        if (w == 0 && ev && ev->trial_done)
            ev->trial_done(ev->ctx, (int)(long)r.tag, plan->req.trials, &r.out);
        if (w == 0 && !stopped && trial_stops_run(&r, guest_started, e)) {
            stopped = 1;
            pool_stop(pool); /* the trials in flight end infra: nothing more to learn */
        }
        guest_started |= !r.out.host_failure && !r.out.stop;
        pool_result_free(&r);
        if (w < 0)
            goto out_finish;
    }
    rc = stopped ? -1 : 0;
out_finish:
    if (proc_interrupted() && rc < 0 && e && e->code != ERR_INTERRUPTED)
        err_set(e, ERR_INTERRUPTED, "interrupted; the trials finished so far are stored");
    if (store_run_finish(st, id,
                         rc == 0              ? "done"
                         : proc_interrupted() ? "interrupted"
                                              : "error",
                         &e2) < 0 &&
        rc == 0) {
        if (e)
            *e = e2;
        rc = -1;
    }
out:
    pool_free(pool);
    free(run_dir);
    return rc;
}

void run_rates(const struct trial_rec *t, size_t n, struct run_rates *r)
{
    long long *c = xcalloc(n ? n : 1, sizeof(*c)), *it = xcalloc(n ? n : 1, sizeof(*it));
    size_t m = 0;

    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        if (!t[i].verdict || (strcmp(t[i].verdict, "pass") && strcmp(t[i].verdict, "fail")))
            continue;
        c[m] = t[i].corruptions;
        it[m] = t[i].iterations;
        r->boots++;
        r->boots_corrupt += !strcmp(t[i].verdict, "fail");
        r->iterations += t[i].iterations;
        r->corruptions += t[i].corruptions;
        m++;
    }
    stats_share(r->boots_corrupt, r->boots, 0.95, &r->share_lo, &r->share_hi);
    stats_rate_boots(c, it, m, 0.95, &r->rate, &r->rate_lo, &r->rate_hi, &r->dispersion);
    /* a clean run is stated by its one-sided 95% upper bound, as a published table says it */
    if (r->iterations > 0 && r->corruptions == 0)
        r->rate_hi = stats_binom_upper(0, (long)r->iterations, 0.95);
    free(c);
    free(it);
}

void run_plan_free(struct run_plan *plan)
{
    artifact_free(&plan->xen);
    artifact_free(&plan->linux_);
    for (int i = 0; i < RUN_MAX_DOMUS; i++) {
        artifact_free(&plan->domu[i]);
        free(plan->domu_elf[i]);
    }
    for (int i = 0; i < RUN_MAX_DOMUS; i++)
        free(plan->domu_specs[i]);
    free(plan->corrupt_in);
    if (plan->plugin)
        plugin_free(plan->plugin);
    free(plan->plugin);
    free(plan->plugin_manifest);
    free(plan->snap_path);
    free(plan->toolstack_dir);
    free(plan->modules_dir);
    host_stack_free(&plan->host);
    free(plan->initramfs);
    free(plan->initramfs_sha256);
    free(plan->xen_cmdline);
    free(plan->dom0_cmdline);
    free(plan->params_json);
    free(plan->qemu_cmd);
    memset(plan, 0, sizeof(*plan));
}
