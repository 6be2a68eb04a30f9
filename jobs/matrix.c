#include "jobs/matrix.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/matrix.h"
#include "images/payload.h"
#include "jobs/pool.h"
#include "jobs/remote.h"
#include "jobs/run.h"
#include "kernels/kernels.h"
#include "lab/host.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/sv.h"
#include "util/xalloc.h"

/* One artifact per distinct spec, shared by every cell that names it. */
struct shared_art {
    char *spec;
    struct artifact a;
    char *unbuilt; /* the source does not build: why (the build's message) */
};

struct mctx {
    const struct config *cfg;
    const char *config_path;
    struct store *st;
    const struct matrix_request *rq;
    const struct matrix_events *ev;
    long long id;
    struct matrix_cell_rec *cells;
    size_t ncells;
    struct run_plan *plans; /* one per cell */
    char **untestable;      /* per cell: why it cannot be tested (a source that does not build) */
    struct host_stack host;
    char *initramfs, *initramfs_sha256;
    struct shared_art **arts; /* each its own allocation: pointers into it stay valid */
    size_t narts;
    int jobs, smp;
    int fresh_every; /* the cells' fresh_boot_every (1 on other hosts) */
    int guest_started;
    long finished;     /* trials recorded (this session) */
    long long wall_ms; /* their wall time, for the ETA */
    long infra_retries;
};

static void stage(const struct mctx *m, const char *what, const char *detail)
{
    if (m->ev && m->ev->stage)
        m->ev->stage(m->ev->ctx, what, detail);
    log_info("matrix", "%s: %s", what, detail ? detail : "");
}

static void kernels_progress(void *ctx, const char *what, const char *detail)
{
    stage(ctx, what, detail);
}

void matrix_default_jobs(int *jobs, int *smp)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    if (cores < 1)
        cores = 1;
    /* never more guest vCPUs than host cores: TCG vCPUs spinning on descheduled ones cost
     * more than they give (two -smp 2 guests on 2 cores ran at 0.13x) */
    if (*jobs <= 0)
        *jobs = (int)cores;
    if (*smp <= 0)
        *smp = (int)(cores / *jobs) > 0 ? (int)(cores / *jobs) : 1;
}

/* The cell's reproducer options as JSON: what resume needs to rebuild its plan. */
static char *options_json(const struct matrix_repro *r, double self_test)
{
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_bool(&w, "lazy_fpu", r->lazy_fpu);
    if (r->amplifiers)
        jw_kv_s(&w, "amplifiers", r->amplifiers);
    jw_kv_int(&w, "workers", r->workers);
    if (r->dom0_args)
        jw_kv_s(&w, "dom0_args", r->dom0_args);
    jw_kv_dbl(&w, "self_test_corrupt", self_test > 0 ? self_test : r->self_test_corrupt);
    if (r->domus) {
        jw_kv_int(&w, "domus", r->domus);
        if (r->domu_linux)
            jw_kv_s(&w, "domu_linux", r->domu_linux);
        jw_kv_bool(&w, "in_dom0", r->in_dom0);
    }
    jw_end(&w);
    return buf_detach(&b, NULL);
}

/* Whether the cell matches "xen=G linux=G repro=G" (all given conditions, each G a shell glob or
 * "G1|G2" for either; NULL matches). */
static int cell_matches(const char *conds, const char *xen, const char *lnx, const char *repro)
{
    struct sv w = SV_INIT;
    int ok = 1;

    if (!conds)
        return 1;
    sv_split(&w, conds, " \t,");
    for (size_t i = 0; i < w.n && ok; i++) {
        const char *v = strchr(w.v[i], '=');
        const char *label = !strncmp(w.v[i], "xen=", 4)     ? xen
                            : !strncmp(w.v[i], "linux=", 6) ? lnx
                            : !strncmp(w.v[i], "repro=", 6) ? repro
                                                            : NULL;
        ok = 0;
        if (label && v) { /* "G1|G2": either glob */
            struct sv alt = SV_INIT;
            sv_split(&alt, v + 1, "|");
            for (size_t k = 0; k < alt.n && !ok; k++)
                ok = fnmatch(alt.v[k], label, 0) == 0;
            sv_clear(&alt);
        }
    }
    sv_clear(&w);
    return ok;
}

/* The kernels layer's options for the matrix's fetches. */
static void matrix_kernels_opts(struct mctx *m, struct kernels_opts *ko)
{
    memset(ko, 0, sizeof(*ko));
    ko->cache_dir = m->cfg->cache_dir;
    ko->mirror = m->cfg->mirror;
    ko->security_mirror = m->cfg->security_mirror;
    ko->refresh_hours = m->cfg->refresh_hours;
    ko->progress = kernels_progress;
    ko->progress_ctx = m;
}

/*
 * The shared artifact of spec (resolved on first use: fetched or built once). A source that does
 * not build is no error of the matrix: NULL with *unbuilt saying why (remembered, so the other
 * cells naming spec do not build it again); their trials are recorded as skip with that reason.
 * Any other failure: NULL with e set.
 */
static const struct artifact *shared(struct mctx *m, enum artifact_kind kind, const char *spec,
                                     const char **unbuilt, struct err *e)
{
    struct kernels_opts ko;
    struct shared_art *sa;

    *unbuilt = NULL;
    for (size_t i = 0; i < m->narts; i++)
        if (m->arts[i]->a.kind == kind && !strcmp(m->arts[i]->spec, spec)) {
            *unbuilt = m->arts[i]->unbuilt;
            return *unbuilt ? NULL : &m->arts[i]->a;
        }
    matrix_kernels_opts(m, &ko);
    sa = xcalloc(1, sizeof(*sa));
    stage(m, "fetch", spec);
    if (artifact_resolve(&ko, kind, spec, &sa->a, e) < 0) {
        err_prefix(e, "%s '%s'", kind == ARTIFACT_XEN ? "Xen" : "Linux", spec);
        if (e->code != ERR_BUILD) {
            free(sa);
            return NULL;
        }
        sa->unbuilt = xstrdup(e->msg);
        *unbuilt = sa->unbuilt;
        stage(m, "untestable", sa->unbuilt);
        err_clear(e);
    }
    sa->spec = xstrdup(spec);
    m->arts = xrealloc(m->arts, (m->narts + 1) * sizeof(*m->arts));
    m->arts[m->narts++] = sa;
    return *unbuilt ? NULL : &sa->a;
}

/* A run request for cell c (strings borrowed from c and opt). */
static void cell_request(const struct mctx *m, const struct matrix_cell_rec *c,
                         const struct json_flat *opt, struct sv *domu, struct run_request *rq)
{
    const char *dl = json_flat_str(opt, "domu_linux");

    run_request_defaults(m->cfg, rq);
    rq->xen_spec = c->xen_spec;
    rq->linux_spec = c->linux_spec;
    rq->repro = c->repro_name;
    rq->trials = c->trials;
    rq->iterations = c->iterations;
    rq->lazy_fpu = json_flat_num(opt, "lazy_fpu", 0) != 0;
    rq->amplifiers = json_flat_str(opt, "amplifiers");
    rq->workers = (int)json_flat_num(opt, "workers", 0);
    rq->dom0_args = json_flat_str(opt, "dom0_args");
    rq->self_test_corrupt = json_flat_num(opt, "self_test_corrupt", 0);
    rq->jobs = 1;
    rq->fresh_every = m->fresh_every;
    rq->smp = m->smp; /* in the snapshot's key too: a -smp 1 machine is not a -smp 2 one */
    rq->domus = (int)json_flat_num(opt, "domus", 0);
    rq->in_dom0 = json_flat_num(opt, "in_dom0", 0) != 0;
    if (dl)
        sv_split(domu, dl, " ");
    for (size_t i = 0; i < domu->n && i < RUN_MAX_DOMUS; i++)
        rq->domu_linux[rq->n_domu_linux++] = domu->v[i];
}

/* Plans every cell on the shared host, artifacts and initramfs (nothing built twice). */
static int plan_cells(struct mctx *m, struct err *e)
{
    stage(m, "check", "QEMU and accelerator");
    if (host_probe(m->cfg, &m->host, e) < 0)
        return -1;
    stage(m, "accel", m->host.accel_note);
    stage(m, "build image", "initramfs");
    if (payload_initramfs(m->cfg->cache_dir, NULL, &m->initramfs, &m->initramfs_sha256, e) < 0)
        return -1;
    m->plans = xcalloc(m->ncells ? m->ncells : 1, sizeof(*m->plans));
    m->untestable = xcalloc(m->ncells ? m->ncells : 1, sizeof(*m->untestable));
    for (size_t i = 0; i < m->ncells; i++) {
        const struct matrix_cell_rec *c = &m->cells[i];
        struct json_flat opt = { NULL, 0 };
        struct sv domu = SV_INIT;
        struct run_request rq;
        const struct artifact *x, *l = NULL;
        const char *unbuilt = NULL;
        struct run_plan *p = &m->plans[i];
        int r;

        x = shared(m, ARTIFACT_XEN, c->xen_spec, &unbuilt, e);
        if (x)
            l = shared(m, ARTIFACT_LINUX, c->linux_spec, &unbuilt, e);
        if (!unbuilt && (!x || !l))
            return -1;
        json_flat_parse(c->options_json ? c->options_json : "{}", &opt, NULL);
        cell_request(m, c, &opt, &domu, &rq);
        r = run_plan_init(m->cfg, &rq, p, e);
        json_flat_free(&opt);
        sv_clear(&domu);
        /* the request's strings point into the options; the plan keeps copies it needs */
        p->req.dom0_args = NULL;
        p->req.amplifiers = NULL; /* kept as plan->amplifiers */
        if (r < 0)
            return -1;
        host_stack_copy(&p->host, &m->host);
        p->initramfs = xstrdup(m->initramfs);
        p->initramfs_sha256 = xstrdup(m->initramfs_sha256);
        if (unbuilt) { /* recorded with the host it was planned on; nothing to boot */
            m->untestable[i] = xstrdup(unbuilt);
            continue;
        }
        if (run_plan_plugin(p, NULL, e) < 0) { /* a plug-in cell carries its own initramfs */
            err_prefix(e, "cell %s x %s x %s", c->xen, c->linux_, c->repro);
            return -1;
        }
        artifact_copy(&p->xen, x);
        artifact_copy(&p->linux_, l);
        if (p->req.domus) {
            struct kernels_opts ko;
            matrix_kernels_opts(m, &ko);
            if (run_plan_domus(p, &ko, NULL, e) < 0) {
                err_prefix(e, "cell %s x %s x %s", c->xen, c->linux_, c->repro);
                if (e->code != ERR_BUILD)
                    return -1;
                m->untestable[i] = xstrdup(e->msg); /* a domU kernel that does not build */
                stage(m, "untestable", e->msg);
                err_clear(e);
            }
            continue;
        }
        run_plan_finish(p);
    }
    return 0;
}

/* Loads the file, checks what it names and builds the cells, with nothing fetched yet. */
static int load_cells(struct mctx *m, struct matrix_def *def, struct err *e)
{
    struct matrix_cell *cells = NULL;
    size_t n = 0;
    int rc = -1;

    if (matrix_load(m->rq->file, def, e) < 0 || matrix_cells(def, &cells, &n, e) < 0)
        goto out;
    if (m->rq->only_cells) { /* a slice of the file: the cells matching, in order */
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (cell_matches(m->rq->only_cells, cells[i].xen->label, cells[i].linux_->label,
                             cells[i].repro->label))
                cells[k++] = cells[i];
        if (!k) {
            err_set(e, ERR_USAGE, "--only '%s' matches none of the %zu cells of %s",
                    m->rq->only_cells, n, m->rq->file);
            goto out;
        }
        n = k;
    }
    /* every spec and reproducer of the cells first, so a typo costs no download */
    if (matrix_check_specs(def, m->rq->only_cells ? cells : NULL, n, NULL, e) < 0)
        goto out;
    m->cells = xcalloc(n, sizeof(*m->cells));
    m->ncells = n;
    for (size_t i = 0; i < n; i++) {
        struct matrix_cell_rec *c = &m->cells[i];
        int inject = m->rq->self_test_corrupt > 0 &&
                     cell_matches(m->rq->self_test_cells, cells[i].xen->label,
                                  cells[i].linux_->label, cells[i].repro->label);
        c->cell = (int)i;
        c->xen = xstrdup(cells[i].xen->label);
        c->linux_ = xstrdup(cells[i].linux_->label);
        c->repro = xstrdup(cells[i].repro->label);
        c->xen_spec = xstrdup(cells[i].xen->spec);
        c->linux_spec = xstrdup(cells[i].linux_->spec);
        c->repro_name = matrix_repro_spec(def, cells[i].repro->name, e);
        if (!c->repro_name)
            goto out;
        c->options_json = options_json(cells[i].repro, inject ? m->rq->self_test_corrupt : 0);
        c->trials = cells[i].trials;
        c->iterations = cells[i].iterations;
    }
    rc = 0;
out:
    free(cells);
    return rc;
}

/* What a job of cell c runs: the cell's prepared trial, with the matrix's guest size. */
struct inflight {
    struct matrix_job job;
    size_t cell;
    char *log;
    char *words; /* a snapshot trial's START words */
};

/* The in-flight record of a leased job, with the index of its cell in m->cells. */
static struct inflight *inflight_new(const struct mctx *m, const struct matrix_job *job)
{
    struct inflight *f = xcalloc(1, sizeof(*f));

    f->job = *job;
    for (f->cell = 0; f->cell < m->ncells && m->cells[f->cell].cell != job->cell; f->cell++)
        ;
    return f;
}

/* The prepared trial of a leased job; f gets the job, its log and its START words. */
static void job_for(struct mctx *m, struct inflight *f, struct trial_job *tj)
{
    struct run_plan *p = &m->plans[f->cell];

    run_plan_job(p, f->log, tj);
    /* while a cell's machine is being saved its other trials boot: the queue does not wait */
    run_plan_snap_job(p, f->job.idx, 0, tj, &f->words);
}

static void inflight_free(struct inflight *f)
{
    free(f->log);
    free(f->words);
    free(f);
}

/* The progress line after a trial. */
static void report(struct mctx *m, const char *last)
{
    struct matrix_rec r;
    struct matrix_progress p;
    struct err e = ERR_INIT;

    if (!m->ev || !m->ev->progress || store_matrix_get(m->st, m->id, &r, NULL, NULL, &e) < 0)
        return;
    memset(&p, 0, sizeof(p));
    p.id = m->id;
    p.done = r.done;
    p.running = r.leased;
    p.queued = r.queued;
    p.infra_retries = m->infra_retries;
    p.eta_s = m->finished ? (double)m->wall_ms / (double)m->finished / 1000.0 *
                                (double)(r.queued + r.leased) / (double)m->jobs
                          : NAN;
    p.last = last;
    m->ev->progress(m->ev->ctx, &p);
    matrix_rec_free(&r);
}

static int finish_trial(struct mctx *m, struct pool_result *r, struct err *e);

/*
 * A leased job of a cell that cannot be tested (a source that does not build): recorded at once
 * as skip, the build's first line as its reason and the whole message as its log. Frees f.
 */
static int skip_untestable(struct mctx *m, struct inflight *f, struct err *e)
{
    const char *why = m->untestable[f->cell];
    const char *nl = strchr(why, '\n');
    struct pool_result r;
    int rc = 0;

    memset(&r, 0, sizeof(r));
    r.tag = f;
    r.out.verdict = VERDICT_SKIP;
    r.out.reason = nl ? xstrndup(why, (size_t)(nl - why)) : xstrdup(why);
    if (nl && nl > why && nl[-1] == ':') /* "...; log PATH):" introduces the compiler's lines */
        r.out.reason[nl - why - 1] = '\0';
    r.out.started = clock_iso_now();
    r.out.finished = clock_iso_now();
    r.out.boot_ms = -1;
    {
        char *dir = fs_dirname(f->log);
        rc = fs_mkdirs(dir, e);
        free(dir);
    }
    if (rc < 0 || fs_write_atomic(f->log, why, strlen(why), e) < 0) {
        trial_outcome_free(&r.out);
        inflight_free(f);
        return -1;
    }
    rc = finish_trial(m, &r, e);
    trial_outcome_free(&r.out);
    return rc;
}

/* Starts the next queued job in the pool: 1 started, 0 nothing queued, -1 error. */
static int start_next(struct mctx *m, struct pool *pool, struct err *e)
{
    struct matrix_job job;
    struct inflight *f;
    struct trial_job tj;
    struct pool_task t = { 0 };
    const struct run_plan *p;
    int lease_s, r;

    p = m->plans; /* any plan: the limits are the same in every cell but for iterations */
    lease_s = 600 + m->cfg->boot_s + m->cfg->shutdown_s + m->cfg->run_base_s +
              m->cfg->run_per_kiter_s * 10000; /* generous; a dead holder is caught by claim */
    r = store_matrix_lease(m->st, m->id, lease_s, &job, e);
    if (r <= 0)
        return r;
    f = inflight_new(m, &job);
    p = &m->plans[f->cell];
    f->log = job.infra_retries ? xasprintf("%s/runs/%lld/trial-%d.retry%d.log", m->cfg->state_dir,
                                           m->cells[f->cell].run_id, job.idx, job.infra_retries)
                               : xasprintf("%s/runs/%lld/trial-%d.log", m->cfg->state_dir,
                                           m->cells[f->cell].run_id, job.idx);
    if (m->untestable[f->cell]) /* nothing to boot */
        return skip_untestable(m, f, e) < 0 ? -1 : 1;
    {
        char *dir = fs_dirname(f->log);
        r = fs_mkdirs(dir, e);
        free(dir);
        if (r < 0)
            goto fail;
    }
    job_for(m, f, &tj);
    t.kind = POOL_TRIAL;
    t.job = &tj;
    t.tag = f;
    t.timeout_s = m->rq->trial_timeout_s > 0
                      ? m->rq->trial_timeout_s
                      : p->boot_timeout_s + p->run_timeout_s + m->cfg->shutdown_s + 60;
    if (pool_start(pool, &t, e) < 0)
        goto fail;
    return 1;
fail:
    inflight_free(f);
    return -1;
}

/* Records one ended trial (or queues it again after an infra result). 1: stop the matrix. */
static int finish_trial(struct mctx *m, struct pool_result *r, struct err *e)
{
    struct inflight *f = r->tag;
    const struct matrix_cell_rec *c = &m->cells[f->cell];
    const struct trial_outcome *o = &r->out;
    struct trial_info t = { 0 };
    char last[256];
    int stop = 0, rc = -1;

    if (o->host_failure && !m->guest_started) {
        err_set(e, ERR_HOST,
                "QEMU cannot start a guest on this host: %s; `pvlab host` shows "
                "the host stack",
                o->reason ? o->reason : "?");
        stop = 1;
    } else if (r->interrupted || proc_interrupted()) {
        err_set(e, ERR_INTERRUPTED,
                "interrupted; the trials finished so far are stored, "
                "continue with: pvlab matrix resume %lld",
                m->id);
        stop = 1;
    } else if (o->stop) {
        err_set(e, ERR_HOST, "a trial could not run: %s", o->reason ? o->reason : "?");
        stop = 1;
    }
    if (stop) {
        rc = 1; /* the job stays leased: a resume queues it again */
        goto out;
    }
    m->guest_started |= !o->host_failure;
    run_plan_snap_ended(&m->plans[f->cell], f->job.idx, o);
    snprintf(last, sizeof(last), "%s x %s %s #%d: %s%s", c->xen, c->linux_, c->repro, f->job.idx,
             verdict_name(o->verdict),
             o->verdict == VERDICT_INFRA && f->job.infra_retries < MATRIX_INFRA_RETRIES
                 ? " (retried)"
                 : "");
    if (o->verdict == VERDICT_INFRA && f->job.infra_retries < MATRIX_INFRA_RETRIES) {
        m->infra_retries++;
        if (store_matrix_retry(m->st, m->id, &f->job, o->reason, e) < 0)
            goto out;
    } else {
        run_trial_info(o, c->run_id, f->job.idx, &t);
        t.log_path = o->log_path ? o->log_path : f->log;
        t.host = o->hostname ? o->hostname : m->host.hostname;
        if (store_matrix_complete(m->st, m->id, &f->job, &t, e) < 0)
            goto out;
    }
    m->finished++;
    m->wall_ms += r->wall_ms;
    report(m, last);
    rc = 0;
out:
    inflight_free(f);
    return rc;
}

static void remote_warn(void *ctx, const char *line)
{
    stage(ctx, "host", line);
}

/*
 * The queue through GNU parallel on the hosts file's hosts (their slots at once). parallel
 * reads its input as it goes and, while it waits for the next line, notices no trial ending;
 * so each round hands it every queued trial and closes its input, and it exits when they have
 * all ended. Trials queued again (infra results) make the next round.
 */
static int execute_remote(struct mctx *m, struct err *e)
{
    struct remote_opts ro = { 0 };
    struct remote *rem = NULL;
    struct sv base = SV_INIT;
    struct inflight **fl = NULL;
    size_t nfl = 0;
    int slots = 0, rc = -1, stopped = 0;
    char *workdir = xasprintf("%s/matrix/%lld", m->cfg->state_dir, m->id);

    for (size_t i = 0; i < m->narts; i++)
        if (!m->arts[i]->unbuilt)
            sv_push(&base, m->arts[i]->a.path);
    sv_push(&base, m->initramfs);
    ro.hosts_file = m->rq->hosts_file;
    ro.remote_pvlab = m->rq->remote_pvlab;
    ro.basefiles = (const char *const *)sv_argv(&base);
    ro.workdir = workdir;
    while (!stopped) {
        int w;

        /* every queued trial, leased and handed over before parallel starts running them */
        for (;;) {
            struct matrix_job job;
            struct inflight *f;
            struct trial_job tj;
            char k[32];
            w = store_matrix_lease(m->st, m->id, 24 * 3600, &job, e);
            if (w < 0)
                goto out;
            if (w == 0)
                break;
            f = inflight_new(m, &job);
            if (f->cell < m->ncells && m->untestable[f->cell]) { /* nothing to send */
                f->log = xasprintf("%s/runs/%lld/trial-%d.log", m->cfg->state_dir,
                                   m->cells[f->cell].run_id, job.idx);
                if (skip_untestable(m, f, e) < 0)
                    goto out;
                continue;
            }
            if (!rem) {
                if (remote_start(&ro, remote_warn, m, &rem, &slots, e) < 0) {
                    store_matrix_release(m->st, m->id, &job, NULL);
                    free(f);
                    goto out;
                }
                m->jobs = slots;
                report(m, NULL);
            }
            f->log = xasprintf("%s/runs/%lld/trial-%d.%s%d.log", m->cfg->state_dir,
                               m->cells[f->cell].run_id, job.idx, "try", job.infra_retries);
            job_for(m, f, &tj);
            tj.xen_sha256 = m->plans[f->cell].xen.sha256;
            tj.kernel_sha256 = m->plans[f->cell].linux_.sha256;
            tj.initramfs_sha256 = m->plans[f->cell].initramfs_sha256;
            snprintf(k, sizeof(k), "c%di%dr%d", job.cell, job.idx, job.infra_retries);
            fl = xrealloc(fl, (nfl + 1) * sizeof(*fl));
            fl[nfl++] = f;
            if (remote_submit(rem, k, &tj, e) < 0)
                goto out;
        }
        if (!rem)
            break; /* nothing queued: done */
        remote_close_input(rem);
        while (nfl) {
            struct pool_result r;
            char *key = NULL;

            memset(&r, 0, sizeof(r));
            w = remote_wait(rem, &key, &r.out, e);
            if (w < 0)
                goto out;
            if (w == 0)
                break;
            for (size_t i = 0; i < nfl; i++) {
                char k[32];
                snprintf(k, sizeof(k), "c%di%dr%d", fl[i]->job.cell, fl[i]->job.idx,
                         fl[i]->job.infra_retries);
                if (!strcmp(k, key)) {
                    r.tag = fl[i];
                    fl[i] = fl[--nfl];
                    break;
                }
            }
            free(key);
            if (!r.tag) {
                trial_outcome_free(&r.out);
                continue;
            }
            r.wall_ms = r.out.wall_ms;
            w = finish_trial(m, &r, e);
            trial_outcome_free(&r.out);
            if (w < 0)
                goto out;
            if (w > 0) {
                stopped = 1; /* a host that cannot start QEMU: stop the rest */
                break;
            }
        }
        remote_stop(rem);
        rem = NULL;
    }
    rc = stopped ? -1 : 0;
out:
    /* what is still in flight goes back to the queue (a resume runs it) */
    for (size_t i = 0; i < nfl; i++) {
        store_matrix_release(m->st, m->id, &fl[i]->job, NULL);
        inflight_free(fl[i]);
    }
    free(fl);
    remote_stop(rem);
    sv_clear(&base);
    free(workdir);
    return rc;
}

/* Runs the queue until it is empty (or a trial stops the matrix). */
static int execute(struct mctx *m, struct err *e)
{
    struct pool *pool = pool_new(m->cfg, m->config_path, m->jobs, NULL);
    int rc = -1, queued_left = 1, stopped = 0;

    report(m, NULL);
    for (;;) {
        struct pool_result r;
        int w;

        while (!stopped && queued_left && pool_idle(pool) > 0) {
            w = start_next(m, pool, e);
            if (w < 0)
                goto out;
            queued_left = w > 0;
        }
        w = pool_wait(pool, &r, e);
        if (w < 0)
            goto out;
        if (w == 0) {
            if (stopped)
                break;
            /* nothing running: more queued (an infra retry)? */
            queued_left = 1;
            w = start_next(m, pool, e);
            if (w < 0)
                goto out;
            if (w == 0)
                break;
            continue;
        }
        w = finish_trial(m, &r, stopped ? NULL : e);
        pool_result_free(&r);
        if (w < 0)
            goto out;
        if (w > 0 && !stopped) {
            stopped = 1;
            pool_stop(pool); /* the others stay leased; a resume runs them again */
        }
        queued_left = 1; /* a retry may have queued one again */
    }
    rc = stopped ? -1 : 0;
out:
    pool_free(pool);
    return rc;
}

static void mctx_free(struct mctx *m)
{
    for (size_t i = 0; m->plans && i < m->ncells; i++) {
        run_plan_free(&m->plans[i]);
        free(m->untestable[i]);
    }
    free(m->plans);
    free(m->untestable);
    matrix_cell_recs_free(m->cells, m->ncells);
    for (size_t i = 0; i < m->narts; i++) {
        free(m->arts[i]->spec);
        free(m->arts[i]->unbuilt);
        artifact_free(&m->arts[i]->a);
        free(m->arts[i]);
    }
    free(m->arts);
    host_stack_free(&m->host);
    free(m->initramfs);
    free(m->initramfs_sha256);
}

/* Runs the prepared matrix and records how it ended. */
static int run_and_close(struct mctx *m, struct err *e)
{
    int rc = m->rq->hosts_file ? execute_remote(m, e) : execute(m, e);
    struct err e2 = ERR_INIT;
    const char *status = rc == 0                                            ? "done"
                         : e->code == ERR_INTERRUPTED || proc_interrupted() ? "interrupted"
                                                                            : "error";

    if (store_matrix_finish(m->st, m->id, status, &e2) < 0 && rc == 0) {
        *e = e2;
        rc = -1;
    }
    return rc;
}

/* The matrix's parameters as JSON. */
static char *matrix_params(const struct mctx *m, const struct matrix_def *def)
{
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_int(&w, "jobs", m->jobs);
    jw_kv_int(&w, "smp", m->smp);
    jw_kv_s(&w, "hosts", m->rq->hosts_file);
    jw_kv_int(&w, "fresh_boot_every", m->fresh_every);
    if (m->rq->self_test_corrupt > 0) {
        jw_kv_dbl(&w, "self_test_corrupt", m->rq->self_test_corrupt);
        jw_kv_s(&w, "self_test_cells", m->rq->self_test_cells ? m->rq->self_test_cells : "*");
        if (m->rq->only_cells)
            jw_kv_s(&w, "only", m->rq->only_cells);
    }
    /* where a REGRESSION or FIX of one axis can be bisected (repository aliases) */
    if (def->bisect_xen)
        jw_kv_s(&w, "bisect_xen", def->bisect_xen);
    if (def->bisect_linux)
        jw_kv_s(&w, "bisect_linux", def->bisect_linux);
    jw_end(&w);
    return buf_detach(&b, NULL);
}

int matrix_start(const struct config *cfg, const char *config_path, struct store *st,
                 const struct matrix_request *rq, const struct matrix_events *ev, long long *id_r,
                 struct err *e)
{
    struct mctx m;
    struct matrix_def def;
    struct matrix_cell_info *ci = NULL;
    struct matrix_info mi = { 0 };
    char sha[SHA256_HEX_LEN + 1] = "";
    char *params = NULL, *abs = NULL;
    int rc = -1;

    memset(&m, 0, sizeof(m));
    memset(&def, 0, sizeof(def));
    *id_r = 0;
    m.cfg = cfg;
    m.config_path = config_path;
    m.st = st;
    m.rq = rq;
    m.ev = ev;
    m.jobs = rq->jobs;
    m.smp = rq->smp;
    matrix_default_jobs(&m.jobs, &m.smp);
    m.fresh_every = rq->hosts_file         ? 1
                    : rq->fresh_every >= 0 ? rq->fresh_every
                                           : cfg->run_fresh_every;
    if (load_cells(&m, &def, e) < 0 || plan_cells(&m, e) < 0)
        goto out;
    ci = xcalloc(m.ncells, sizeof(*ci));
    for (size_t i = 0; i < m.ncells; i++) {
        struct run_info ri;
        const struct matrix_cell_rec *c = &m.cells[i];
        run_plan_info(&m.plans[i], &ri);
        if (store_run_begin(st, &ri, &m.cells[i].run_id, e) < 0)
            goto out;
        ci[i].cell = c->cell;
        ci[i].xen = c->xen;
        ci[i].linux_ = c->linux_;
        ci[i].repro = c->repro;
        ci[i].xen_spec = c->xen_spec;
        ci[i].linux_spec = c->linux_spec;
        ci[i].repro_name = c->repro_name;
        ci[i].options_json = c->options_json;
        ci[i].trials = c->trials;
        ci[i].iterations = c->iterations;
        ci[i].run_id = m.cells[i].run_id;
    }
    sha256_file_hex(rq->file, sha, NULL);
    abs = fs_abspath(rq->file, NULL);
    params = matrix_params(&m, &def);
    mi.name = def.name;
    mi.file = abs ? abs : rq->file;
    mi.file_sha256 = sha;
    mi.params_json = params;
    if (store_matrix_begin(st, &mi, ci, m.ncells, &m.id, e) < 0)
        goto out;
    *id_r = m.id;
    stage(&m, "matrix", def.name);
    rc = run_and_close(&m, e);
out:
    free(ci);
    free(params);
    free(abs);
    matrix_def_free(&def);
    mctx_free(&m);
    return rc;
}

int matrix_resume(const struct config *cfg, const char *config_path, struct store *st, long long id,
                  const struct matrix_request *rq, const struct matrix_events *ev, struct err *e)
{
    struct mctx m;
    struct matrix_rec r;
    struct json_flat pj = { NULL, 0 };
    int rc = -1;

    memset(&m, 0, sizeof(m));
    memset(&r, 0, sizeof(r));
    m.cfg = cfg;
    m.config_path = config_path;
    m.st = st;
    m.rq = rq;
    m.ev = ev;
    m.id = id;
    if (store_matrix_claim(st, id, e) < 0 ||
        store_matrix_get(st, id, &r, &m.cells, &m.ncells, e) < 0)
        goto out;
    json_flat_parse(r.params_json ? r.params_json : "{}", &pj, NULL);
    m.jobs = rq->jobs > 0 ? rq->jobs : (int)json_flat_num(&pj, "jobs", 0);
    m.smp = rq->smp > 0 ? rq->smp : (int)json_flat_num(&pj, "smp", 0);
    matrix_default_jobs(&m.jobs, &m.smp);
    m.fresh_every = rq->hosts_file ? 1
                    : rq->fresh_every >= 0
                        ? rq->fresh_every
                        : (int)json_flat_num(&pj, "fresh_boot_every", cfg->run_fresh_every);
    if (plan_cells(&m, e) < 0) {
        struct err e2 = ERR_INIT;
        store_matrix_finish(st, id, "error", &e2);
        goto out;
    }
    stage(&m, "matrix", r.name);
    rc = run_and_close(&m, e);
out:
    json_flat_free(&pj);
    matrix_rec_free(&r);
    mctx_free(&m);
    return rc;
}
