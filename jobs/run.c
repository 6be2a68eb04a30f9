#include "jobs/run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "images/payload.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
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

int run_exit_code(const char *verdict)
{
    if (verdict && !strcmp(verdict, "pass"))
        return 0;
    if (verdict && !strcmp(verdict, "fail"))
        return 1;
    return 125;
}

/* Composes the dom0 command line: config, reproducer parameters, amplifiers, user extras. */
static int compose_dom0_cmdline(struct run_plan *plan, struct err *e)
{
    const struct run_request *rq = &plan->req;
    struct repro_params rp = { 0 };
    struct buf b = BUF_INIT;
    int rc = -1;

    buf_adds(&b, plan->cfg->dom0_cmdline);
    rp.repro = rq->repro;
    rp.iterations = rq->iterations;
    rp.workers = rq->workers;
    rp.self_test_corrupt = rq->self_test_corrupt;
    rp.seed = rq->seed;
    if (repro_cmdline(&rp, &b, e) < 0)
        goto out;
    if (rq->lazy_fpu)
        buf_adds(&b, " eagerfpu=off");
    if (rq->dom0_args && *rq->dom0_args)
        buf_addf(&b, " %s", rq->dom0_args);
    plan->dom0_cmdline = buf_detach(&b, NULL);
    rc = 0;
out:
    buf_release(&b);
    return rc;
}

int run_prepare(const struct config *cfg, const struct run_request *req,
                const struct run_events *ev, struct run_plan *plan, struct err *e)
{
    struct kernels_opts ko = { 0 };
    int rc = -1;

    memset(plan, 0, sizeof(*plan));
    plan->cfg = cfg;
    plan->req = *req;
    if (!plan->req.seed)
        plan->req.seed = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
    if (!repro_find(req->repro)) {
        struct buf names = BUF_INIT;
        repro_names(&names);
        err_set(e, ERR_NOTFOUND, "unknown reproducer '%s'; known: %s", req->repro, names.data);
        buf_release(&names);
        goto out;
    }
    if (req->trials < 1 || req->trials > 100000) {
        err_set(e, ERR_USAGE, "--trials must be between 1 and 100000 (got %d)", req->trials);
        goto out;
    }
    if (compose_dom0_cmdline(plan, e) < 0)
        goto out;
    plan->xen_cmdline = req->xen_args && *req->xen_args
                            ? xasprintf("%s %s", cfg->xen_cmdline, req->xen_args)
                            : xstrdup(cfg->xen_cmdline);
    stage(ev, "check", "QEMU and accelerator");
    if (host_probe(cfg, &plan->host, e) < 0)
        goto out;
    if (ev && ev->note)
        ev->note(ev->ctx, plan->host.accel_note);
    log_info("run", "%s", plan->host.accel_note);
    if (fs_check_writable_dir(cfg->cache_dir, e) < 0) {
        err_prefix(e, "cache directory (set [paths] cache_dir or PVLAB_CACHE_DIR)");
        goto out;
    }
    if (fs_check_writable_dir(cfg->state_dir, e) < 0) {
        err_prefix(e, "state directory (set [paths] state_dir or PVLAB_STATE_DIR)");
        goto out;
    }
    ko.cache_dir = cfg->cache_dir;
    ko.mirror = cfg->mirror;
    ko.security_mirror = cfg->security_mirror;
    ko.refresh_hours = cfg->refresh_hours;
    ko.progress = kernels_progress;
    ko.progress_ctx = (void *)ev;
    stage(ev, "fetch", req->xen_spec);
    if (artifact_resolve(&ko, ARTIFACT_XEN, req->xen_spec, &plan->xen, e) < 0)
        goto out;
    stage(ev, "fetch", req->linux_spec);
    if (artifact_resolve(&ko, ARTIFACT_LINUX, req->linux_spec, &plan->linux_, e) < 0)
        goto out;
    stage(ev, "build image", "initramfs");
    if (payload_initramfs(cfg->cache_dir, &plan->initramfs, &plan->initramfs_sha256, e) < 0)
        goto out;
    plan->boot_timeout_s = req->boot_timeout_s ? req->boot_timeout_s : cfg->boot_s;
    plan->run_timeout_s =
        req->run_timeout_s
            ? req->run_timeout_s
            : cfg->run_base_s + (int)((long long)cfg->run_per_kiter_s * req->iterations / 1000);
    rc = 0;
out:
    return rc;
}

void run_qemu_cfg(const struct run_plan *plan, const char *serial_log, struct qemu_cfg *q)
{
    memset(q, 0, sizeof(*q));
    q->binary = plan->host.qemu_binary;
    q->machine = plan->cfg->machine;
    q->accel = plan->host.accel;
    q->cpu = plan->host.cpu_model;
    q->memory_mb = plan->cfg->memory_mb;
    q->smp = plan->cfg->smp;
    q->xen_path = plan->xen.path;
    q->xen_cmdline = plan->xen_cmdline;
    q->dom0_path = plan->linux_.path;
    q->dom0_cmdline = plan->dom0_cmdline;
    q->initrd_path = plan->initramfs;
    q->serial_log = serial_log;
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
    jw_kv_dbl(&w, "self_test_corrupt", rq->self_test_corrupt);
    jw_kv_int(&w, "seed", (long long)rq->seed);
    jw_kv_s(&w, "xen_cmdline", plan->xen_cmdline);
    jw_kv_s(&w, "dom0_cmdline", plan->dom0_cmdline);
    jw_kv_int(&w, "boot_timeout_s", plan->boot_timeout_s);
    jw_kv_int(&w, "run_timeout_s", plan->run_timeout_s);
    jw_end(&w);
    return buf_detach(&b, NULL);
}

static char *evidence_json(const struct verdict *v)
{
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_arr(&w);
    for (size_t i = 0; i < v->evidence.n; i++)
        jw_s(&w, v->evidence.v[i]);
    jw_end(&w);
    return buf_detach(&b, NULL);
}

struct trial_cb {
    const struct run_events *ev;
    int idx, total;
};

static void on_trial_progress(void *ctx, const struct trial_progress *p)
{
    struct trial_cb *tc = ctx;
    if (tc->ev && tc->ev->trial)
        tc->ev->trial(tc->ev->ctx, tc->idx, tc->total, p);
}

/* Fills the run record's description of what ran where, before the first trial. */
static void describe_run(const struct run_plan *plan, struct run_rec *r)
{
    struct sv argv = SV_INIT;
    struct qemu_cfg q;
    struct buf cmd = BUF_INIT;

    r->xen_spec = (char *)plan->req.xen_spec;
    r->linux_spec = (char *)plan->req.linux_spec;
    r->repro = (char *)plan->req.repro;
    r->trials_planned = plan->req.trials;
    r->xen_version = plan->xen.version;
    r->xen_package = plan->xen.package;
    r->xen_sha256 = plan->xen.sha256;
    r->linux_version = plan->linux_.version;
    r->linux_package = plan->linux_.package;
    r->linux_sha256 = plan->linux_.sha256;
    r->initramfs_sha256 = plan->initramfs_sha256;
    r->qemu_version = plan->host.qemu_version;
    r->accel = plan->host.accel;
    r->cpu_model = plan->host.cpu_model;
    r->l0_kernel = plan->host.l0_kernel;
    r->hostname = plan->host.hostname;
    r->accel_note = plan->host.accel_note;
    run_qemu_cfg(plan, "CONSOLE.log", &q);
    if (qemu_build_argv(&q, &argv, NULL) == 0)
        qemu_shell_quote(&cmd, sv_argv(&argv));
    r->qemu_cmd = buf_detach(&cmd, NULL);
    sv_clear(&argv);
}

int run_execute(struct run_plan *plan, struct store *st, const struct run_events *ev,
                struct run_rec *out, struct err *e)
{
    struct run_rec r;
    char *run_dir = NULL;
    char *params = NULL;
    int rc = -1, i, guest_started = 0;

    memset(&r, 0, sizeof(r));
    memset(out, 0, sizeof(*out));
    params = params_json(plan);
    describe_run(plan, &r);
    r.params_json = params;
    if (store_run_begin(st, &r, e) < 0)
        goto out;
    run_dir = xasprintf("%s/runs/%lld", plan->cfg->state_dir, r.id);
    if (fs_mkdirs(run_dir, e) < 0)
        goto out_finish;

    for (i = 1; i <= plan->req.trials; i++) {
        struct trial_spec ts;
        struct trial_result tr;
        struct trial_rec rec;
        struct trial_cb tc = { ev, i, plan->req.trials };
        char *log_path = xasprintf("%s/trial-%d.log", run_dir, i);
        char *ev_json = NULL;
        int r2;

        memset(&ts, 0, sizeof(ts));
        run_qemu_cfg(plan, log_path, &ts.qemu);
        ts.boot_timeout_s = plan->boot_timeout_s;
        ts.run_timeout_s = plan->run_timeout_s;
        ts.shutdown_s = plan->cfg->shutdown_s;
        ts.log_cap = (size_t)plan->cfg->console_log_mb << 20;
        ts.progress = on_trial_progress;
        ts.progress_ctx = &tc;
        memset(&rec, 0, sizeof(rec));
        rec.started = clock_iso_now();
        r2 = trial_run(&ts, &tr, e);
        if (r2 < 0) {
            free(rec.started);
            free(log_path);
            goto out_finish;
        }
        rec.run_id = r.id;
        rec.idx = i;
        rec.verdict = (char *)verdict_name(tr.v.kind);
        rec.reason = tr.v.reason;
        rec.iterations = tr.v.iterations;
        rec.corruptions = tr.v.corruptions;
        rec.mismatches = tr.v.mismatches;
        rec.deaths = tr.v.deaths;
        rec.klog_faults = tr.v.klog_faults;
        rec.evidence_json = ev_json = evidence_json(&tr.v);
        rec.finished = clock_iso_now();
        rec.wall_ms = tr.wall_ms;
        rec.boot_ms = tr.boot_ms;
        rec.log_path = log_path;
        r2 = store_trial_add(st, &rec, e);
        if (ev && ev->trial_done)
            ev->trial_done(ev->ctx, i, plan->req.trials, &tr);
        free(rec.started);
        free(rec.finished);
        free(ev_json);
        free(log_path);
        {
            int stop = tr.v.kind == VERDICT_INFRA && proc_interrupted();
            /* QEMU failing before any output, with no guest started yet in this run, is the
             * host, not the commit: stop with QEMU's message instead of an infra (skip) */
            int host_broken = r2 == 0 && tr.qemu_early_exit && !guest_started;
            if (host_broken)
                err_set(e, ERR_HOST, "QEMU cannot start a guest on this host: %s; "
                        "`pvlab host` shows the host stack", tr.v.reason);
            guest_started |= !tr.qemu_early_exit;
            trial_result_free(&tr);
            if (r2 < 0 || host_broken)
                goto out_finish;
            if (stop) {
                err_set(e, ERR_INTERRUPTED, "interrupted; the trials finished so far are stored");
                goto out_finish;
            }
        }
    }
    rc = 0;
out_finish:
    {
        struct err e2 = ERR_INIT;
        r.status = (char *)(rc == 0 ? "done" : proc_interrupted() ? "interrupted" : "error");
        if (store_run_finish(st, &r, &e2) < 0 && rc == 0) {
            if (e)
                *e = e2;
            rc = -1;
        }
    }
    if (r.id > 0) {
        struct err e3 = ERR_INIT;
        if (store_run_get(st, r.id, out, NULL, NULL, &e3) < 0)
            log_warn("run", "cannot read back run %lld: %s", r.id, e3.msg);
    }
out:
    free(r.qemu_cmd);
    free(r.created);
    free(r.finished);
    free(r.verdict);
    free(params);
    free(run_dir);
    return rc;
}

void run_plan_free(struct run_plan *plan)
{
    artifact_free(&plan->xen);
    artifact_free(&plan->linux_);
    host_stack_free(&plan->host);
    free(plan->initramfs);
    free(plan->initramfs_sha256);
    free(plan->xen_cmdline);
    free(plan->dom0_cmdline);
    memset(plan, 0, sizeof(*plan));
}
