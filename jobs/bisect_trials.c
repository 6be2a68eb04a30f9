/* A bisection's trials: started through the pool, each recorded with its posterior snapshot. */
#include "jobs/bisect_run_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/pool.h"
#include "jobs/run.h"
#include "jobs/store.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/xalloc.h"

/* One trial in flight. */
struct pending {
    const char *sha;
    long idx;   /* engine index or -1 */
    size_t pos; /* in the batch */
    int lane;   /* worktree (and slot number in the store) */
    char *log;  /* test command: its output */
    char *spec; /* boot: the commit's spec for its axis */
};

struct batch_ctx {
    struct bctx *c;
    struct pending *pend;
};

/* The pool started a trial: record its process group, so a resume can kill what we leave. */
static void on_started(void *ctx, void *tag, pid_t pgid)
{
    struct batch_ctx *b = ctx;
    struct pending *p = tag;
    struct err e = ERR_INIT;

    if (store_bisect_slot_set(b->c->st, b->c->id, p->lane, (long)pgid, &e) < 0)
        log_warn("bisect", "cannot record a running trial: %s", e.msg);
}

static int free_lane(const struct bctx *c, int k)
{
    for (int i = 0; i < k; i++)
        if (!c->lanes[i].busy)
            return i;
    return -1;
}

/* Puts sha in lane's worktree (reused as is when it already has it: repeated trials). */
static int lane_checkout(struct bctx *c, int lane, const char *sha, struct err *e)
{
    struct lane *l = &c->lanes[lane];

    if (!l->dir)
        l->dir = xasprintf("%s/worktree-%d", c->dir, lane);
    if (!strcmp(l->sha, sha) && fs_exists(l->dir))
        return 0;
    l->sha[0] = '\0';
    if (git_worktree_checkout(c->rq.repo, l->dir, sha, e) < 0) {
        err_prefix(e, "cannot check out %.12s", sha);
        return -1;
    }
    snprintf(l->sha, sizeof(l->sha), "%s", sha);
    return 0;
}

/*
 * How a boot trial of sha uses its configuration's snapshot (the child finds or makes it):
 * "none" with fresh_boot_every 1, "boot" for every K-th trial of the commit, else "auto".
 */
static const char *snap_mode(struct bctx *c, const char *sha)
{
    long j = bctx_index(c, sha);

    if (c->rq.fresh_every == 1)
        return "none";
    /* a good end is tried a few times at most: always its first trial */
    return run_fresh_boot_due(c->rq.fresh_every, j >= 0 ? ++c->booted[j] : 1) ? "boot" : "auto";
}

/* Starts the trial of p in the pool. */
static int start(struct bctx *c, struct pool *pool, struct pending *p, struct err *e)
{
    struct pool_task t = { 0 };
    struct trial_job job;
    struct sv env = SV_INIT;
    const char *args[] = { p->sha, NULL };
    int linux_axis = bctx_boots(c) && !strcmp(c->rq.axis, "linux");
    int rc = -1;

    c->attempt++;
    p->log = xasprintf("%s/trial-%d.log", c->dir, c->attempt);
    if ((c->rq.test_cmd || c->rq.build_cmd) && lane_checkout(c, p->lane, p->sha, e) < 0)
        goto out;
    sv_pushf(&env, "PVLAB_BISECT_COMMIT=%s", p->sha);
    sv_pushf(&env, "PVLAB_BISECTION=%lld", c->id);
    if (c->lanes[p->lane].dir)
        sv_pushf(&env, "PVLAB_WORKTREE=%s", c->lanes[p->lane].dir);
    t.env = (const char *const *)sv_argv(&env);
    t.tag = p;
    t.timeout_s = c->rq.trial_timeout_s;
    if (c->rq.test_cmd) {
        t.kind = POOL_COMMAND;
        t.command = c->rq.test_cmd;
        t.args = args;
        t.cwd = c->lanes[p->lane].dir;
        t.log_path = p->log;
    } else {
        memset(&job, 0, sizeof(job));
        job.repro = c->rq.repro;
        job.repro_args = c->rq.repro_args;
        job.amplifiers = c->rq.amplifiers;
        job.iterations = c->rq.iterations;
        job.lazy_fpu = c->rq.lazy_fpu;
        job.self_test_corrupt = c->rq.self_test_corrupt;
        job.dom0_args = c->rq.dom0_args;
        job.log_path = p->log;
        job.xen_spec = c->rq.xen_spec;
        job.linux_spec = c->rq.linux_spec;
        job.snapshot_mode = snap_mode(c, p->sha);
        if (c->rq.build_cmd) {
            job.build_cmd = c->rq.build_cmd;
            job.build_axis = c->rq.axis;
            job.build_dir = c->lanes[p->lane].dir;
            job.commit = p->sha;
        } else {
            p->spec = xasprintf("git:%s@%s%s%s", c->rq.repo, p->sha, c->rq.build_opts ? "?" : "",
                                c->rq.build_opts ? c->rq.build_opts : "");
            if (linux_axis)
                job.linux_spec = p->spec;
            else
                job.xen_spec = p->spec;
        }
        t.kind = POOL_TRIAL;
        t.job = &job;
    }
    if (pool_start(pool, &t, e) < 0)
        goto out;
    c->lanes[p->lane].busy = 1;
    rc = 0;
out:
    sv_clear(&env);
    return rc;
}

/* Stores a boot trial as a run of its own, so `pvlab show RUN` has its console and what booted. */
static long long store_boot_run(struct bctx *c, const struct pending *p,
                                const struct trial_outcome *o, struct err *e)
{
    struct run_info ri = { 0 };
    struct trial_info ti = { 0 };
    int linux_axis = !strcmp(c->rq.axis, "linux");
    char *spec = p->spec ? NULL : xasprintf("commit %s (built by --build-cmd)", p->sha);
    long long id = 0;

    ri.xen_spec = linux_axis ? c->rq.xen_spec : p->spec ? p->spec : spec;
    ri.linux_spec = linux_axis ? (p->spec ? p->spec : spec) : c->rq.linux_spec;
    ri.repro = c->rq.repro;
    ri.params_json = o->params_json;
    ri.trials_planned = 1;
    ri.xen_version = o->xen_version;
    ri.xen_package = o->xen_package;
    ri.xen_sha256 = o->xen_sha256;
    ri.linux_version = o->linux_version;
    ri.linux_package = o->linux_package;
    ri.linux_sha256 = o->linux_sha256;
    ri.initramfs_sha256 = o->initramfs_sha256;
    ri.qemu_version = o->qemu_version;
    ri.accel = o->accel;
    ri.cpu_model = o->cpu_model;
    ri.l0_kernel = o->l0_kernel;
    ri.hostname = o->hostname;
    ri.qemu_cmd = o->qemu_cmd;
    ri.accel_note = o->accel_note;
    if (store_run_begin(c->st, &ri, &id, e) < 0)
        goto out;
    run_trial_info(o, id, 1, &ti);
    if (store_trial_add(c->st, &ti, e) < 0 || store_run_finish(c->st, id, "done", e) < 0)
        id = -1;
out:
    free(spec);
    return id;
}

/* Records a finished trial with the posterior snapshot after it; feeds the engine. */
static int record(struct bctx *c, const char *phase, const struct pending *p,
                  const struct pool_result *r, struct err *e)
{
    struct bisect_trial_info t = { 0 };
    size_t best;
    double prob = 0;
    long long run_id = 0, cands = 0;

    if (bctx_boots(c)) {
        run_id = store_boot_run(c, p, &r->out, e);
        if (run_id < 0)
            return -1;
        if (r->out.artifact_sha256) {
            sv_push(&c->art_sha, p->sha);
            sv_push(&c->art_hash, r->out.artifact_sha256);
        }
    }
    bctx_feed(c, p->idx, r->out.verdict);
    best = bisect_best(c->eng, &prob);
    for (size_t j = 0; j < c->n; j++)
        cands += bisect_prob(c->eng, j) > 0;
    t.bisection_id = c->id;
    t.seq = ++c->seq;
    t.phase = phase;
    t.commit_sha = p->sha;
    t.outcome = r->out.verdict;
    t.run_id = run_id;
    t.detail = r->out.reason;
    t.wall_ms = r->wall_ms;
    t.log_path = c->rq.test_cmd ? p->log : NULL;
    /* while the posterior is flat any "best" commit is arbitrary: name none */
    t.best_sha = best != BISECT_NONE && (prob >= 0.5 || prob * (double)cands >= 2)
                     ? bctx_answer(c, best)
                     : NULL;
    t.best_prob = prob;
    t.cset = (long long)bisect_credible_set(c->eng, c->rq.confidence, NULL, 0);
    t.candidates = cands;
    t.p_est = bisect_p_estimate(c->eng);
    if (store_bisect_trial_add(c->st, &t, e) < 0)
        return -1;
    if (c->ev && c->ev->trial)
        c->ev->trial(c->ev->ctx, phase, p->sha, r->out.verdict, r->out.reason);
    bctx_status(c,
                "trial %d (%s %.12s: %s); best %.12s p=%.3f; credible set %lld of %lld; "
                "p~%.3g",
                t.seq, phase, p->sha, verdict_name(r->out.verdict), t.best_sha ? t.best_sha : "-",
                prob, t.cset, t.candidates, t.p_est);
    return 0;
}

/* Whether a finished trial stops the bisection (the reason in e). */
static int stops(struct bctx *c, const struct pending *p, const struct pool_result *r,
                 struct err *e)
{
    if (r->interrupted || proc_interrupted()) {
        err_set(e, ERR_INTERRUPTED, "interrupted");
        return 1;
    }
    if (bctx_boots(c) && r->out.host_failure && !c->guest_started) {
        err_set(e, ERR_HOST,
                "the trial at %.12s: QEMU cannot start a guest on this host: %s; "
                "`pvlab host` shows the host stack",
                p->sha, r->out.reason ? r->out.reason : "?");
        return 1;
    }
    if (r->out.stop) {
        err_set(e, ERR_PROC,
                "the trial at %.12s asked to stop the bisection (exit >= 128, like "
                "git bisect run): %s",
                p->sha, r->out.reason ? r->out.reason : "?");
        return 1;
    }
    return 0;
}

static void on_tick(void *ctx)
{
    struct batch_ctx *bc = ctx;
    bc->c->ev->tick(bc->c->ev->ctx);
}

int bisect_run_batch(struct bctx *c, const char *phase, const char **shas, size_t m,
                     enum verdict_kind *outcomes_r, struct err *e)
{
    int k = c->rq.workers < 1                    ? 1
            : c->rq.workers > BISECT_MAX_WORKERS ? BISECT_MAX_WORKERS
                                                 : c->rq.workers;
    struct pending *pend = xcalloc(m ? m : 1, sizeof(*pend));
    struct batch_ctx bc = { c, pend };
    struct pool_events pev = { on_started, NULL, NULL, 0, &bc };
    struct pool *pool;
    size_t next = 0, done = 0;
    int rc = -1;

    if (c->ev && c->ev->tick && c->ev->tick_ms > 0) {
        pev.tick = on_tick;
        pev.tick_ms = c->ev->tick_ms;
    }
    pool = pool_new(c->cfg, c->config_path, k, &pev);
    while (done < m) {
        struct pool_result r;
        struct pending *p;
        int w;

        while (next < m && pool_idle(pool) > 0) {
            p = &pend[next];
            p->sha = shas[next];
            p->idx = bctx_index(c, shas[next]);
            p->pos = next;
            p->lane = free_lane(c, k);
            if (start(c, pool, p, e) < 0)
                goto out;
            next++;
        }
        w = pool_wait(pool, &r, e);
        if (w <= 0) {
            if (w == 0)
                err_set(e, ERR_INTERNAL, "the trial pool ran dry (a pvlab bug)");
            goto out;
        }
        p = r.tag;
        c->lanes[p->lane].busy = 0;
        store_bisect_slot_clear(c->st, c->id, p->lane, NULL);
        if (stops(c, p, &r, e)) {
            pool_result_free(&r);
            goto out;
        }
        c->guest_started |= bctx_boots(c) && !r.out.host_failure && r.out.boot_ms >= 0;
        if (outcomes_r)
            outcomes_r[p->pos] = r.out.verdict;
        w = record(c, phase, p, &r, e);
        pool_result_free(&r);
        done++;
        if (w < 0)
            goto out;
    }
    rc = 0;
out:
    if (pool_busy(pool)) {
        pool_stop(pool);
        for (int i = 0; i < k; i++)
            c->lanes[i].busy = 0;
        store_bisect_slots_reap(c->st, c->id, NULL);
    }
    pool_free(pool);
    for (size_t i = 0; i < m; i++) {
        free(pend[i].log);
        free(pend[i].spec);
    }
    free(pend);
    return rc;
}

void bisect_lanes_free(struct bctx *c)
{
    for (int i = 0; i < BISECT_MAX_WORKERS; i++) {
        struct lane *l = &c->lanes[i];
        char *dir = l->dir ? NULL : xasprintf("%s/worktree-%d", c->dir ? c->dir : ".", i);
        const char *d = l->dir ? l->dir : dir;
        /* worktrees live under the bisection's directory; drop git's records of them too */
        if (c->dir && fs_exists(d))
            git_worktree_remove(c->rq.repo, d);
        free(dir);
        free(l->dir);
        memset(l, 0, sizeof(*l));
    }
}
