#include "jobs/bisect_run.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/bisect.h"
#include "jobs/gitdag.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sha256.h"
#include "util/xalloc.h"

#define MAX_WORKERS 16
#define INFRA_RETRIES 3

/* One bisection in memory: request, DAG, engine, and the map between both index spaces. */
struct bctx {
    const struct config *cfg;
    struct store *st;
    const struct bisect_events *ev;
    struct bisect_request rq; /* strings point into owned */
    struct sv owned;
    long long id;
    char *bad_sha;
    struct sv good_sha;
    struct gitdag dag;
    /* engine index j <-> commit eng_sha[j]; fix mode runs on the reversed first-parent line */
    size_t n;
    const char **eng_sha;
    const char *fix_after_last; /* fix mode: the commit after eng_sha[0] in time (good end) */
    struct bisect *eng;
    int *infra;               /* infra count per engine index */
    int seq;
    char *dir;                /* <state>/bisect/<id> */
    char *self_exe;
    struct sv art_sha, art_hash; /* artifacts built so far: commit -> sha256 */
    char wt_sha[MAX_WORKERS][64]; /* what each worktree has checked out */
    long trials;
};

struct slot {
    struct proc p;
    struct buf out;
    int busy;
    const char *sha;
    long idx; /* engine index or -1 */
    long long start_ms;
    char *wt;
};

static void emit_status(struct bctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit_status(struct bctx *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (c->ev && c->ev->status)
        c->ev->status(c->ev->ctx, line);
}

static long eng_index(const struct bctx *c, const char *sha)
{
    for (size_t j = 0; j < c->n; j++)
        if (!strcmp(c->eng_sha[j], sha))
            return (long)j;
    return -1;
}

/* The answer commit for engine index j: the culprit, or in fix mode the commit after it. */
static const char *answer_sha(const struct bctx *c, size_t j)
{
    if (!c->rq.find_fix)
        return c->eng_sha[j];
    return j == 0 ? c->fix_after_last : c->eng_sha[j - 1];
}

/* Records the request as JSON: everything resume needs. */
static char *params_json(const struct bisect_request *rq)
{
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_s(&w, "test_cmd", rq->test_cmd);
    jw_kv_s(&w, "axis", rq->axis);
    jw_kv_s(&w, "build_cmd", rq->build_cmd);
    jw_kv_s(&w, "xen", rq->xen_spec);
    jw_kv_s(&w, "linux", rq->linux_spec);
    jw_kv_s(&w, "repro", rq->repro);
    jw_kv_int(&w, "iterations", rq->iterations);
    jw_kv_bool(&w, "lazy_fpu", rq->lazy_fpu);
    jw_kv_s(&w, "dom0_args", rq->dom0_args);
    jw_kv_dbl(&w, "self_test_corrupt", rq->self_test_corrupt);
    jw_kv_dbl(&w, "p", rq->p);
    jw_kv_dbl(&w, "confidence", rq->confidence);
    jw_kv_int(&w, "workers", rq->workers);
    jw_kv_int(&w, "max_trials", rq->max_trials);
    jw_kv_int(&w, "check_good", rq->check_good);
    jw_kv_int(&w, "check_bad_max", rq->check_bad_max);
    jw_kv_bool(&w, "verify", rq->verify);
    jw_kv_int(&w, "trial_timeout_s", rq->trial_timeout_s);
    jw_end(&w);
    return buf_detach(&b, NULL);
}

/* Rebuilds a request from params_json (strings owned by c->owned). */
static int params_parse(struct bctx *c, const char *json, struct err *e)
{
    struct json_flat j;
    struct bisect_request *rq = &c->rq;

    if (json_flat_parse(json, &j, e) < 0)
        return -1;
#define S(field, key)                                                                           \
    do {                                                                                        \
        const char *v_ = json_flat_str(&j, key);                                                \
        if (v_) {                                                                               \
            sv_push(&c->owned, v_);                                                             \
            rq->field = c->owned.v[c->owned.n - 1];                                             \
        }                                                                                       \
    } while (0)
    S(test_cmd, "test_cmd");
    S(axis, "axis");
    S(build_cmd, "build_cmd");
    S(xen_spec, "xen");
    S(linux_spec, "linux");
    S(repro, "repro");
    S(dom0_args, "dom0_args");
#undef S
    rq->iterations = (long)json_flat_num(&j, "iterations", 2000);
    rq->lazy_fpu = (int)json_flat_num(&j, "lazy_fpu", 0);
    rq->self_test_corrupt = json_flat_num(&j, "self_test_corrupt", 0);
    rq->p = json_flat_num(&j, "p", 0);
    rq->confidence = json_flat_num(&j, "confidence", 0.95);
    rq->workers = (int)json_flat_num(&j, "workers", 1);
    rq->max_trials = (long)json_flat_num(&j, "max_trials", 0);
    rq->check_good = (int)json_flat_num(&j, "check_good", 2);
    rq->check_bad_max = (int)json_flat_num(&j, "check_bad_max", 50);
    rq->verify = (int)json_flat_num(&j, "verify", 1);
    rq->trial_timeout_s = (int)json_flat_num(&j, "trial_timeout_s", 0);
    json_flat_free(&j);
    return 0;
}

/* Builds the trial command for sha (run by sh -c in the slot's worktree when it has one). */
static char *trial_command(struct bctx *c, const char *sha)
{
    struct buf b = BUF_INIT;
    const struct bisect_request *rq = &c->rq;
    int linux_axis;

    if (rq->test_cmd)
        return xstrdup(rq->test_cmd);
    linux_axis = !strcmp(rq->axis, "linux");
    if (rq->build_cmd) {
        /* the build prints the artifact path last; a failed build is untestable (skip) */
        buf_addf(&b, "art=$( (%s) | tail -n 1 ); if [ ! -f \"$art\" ]; then echo "
                     "'PVLAB-BISECT-SKIP build failed or printed no artifact path'; exit 125; "
                     "fi; echo \"PVLAB-BISECT-ARTIFACT $art\"; ",
                 rq->build_cmd);
        buf_addf(&b, "exec '%s' run --%s \"file:$art\" --%s '%s'", c->self_exe,
                 linux_axis ? "linux" : "xen", linux_axis ? "xen" : "linux",
                 linux_axis ? rq->xen_spec : rq->linux_spec);
    } else {
        buf_addf(&b, "exec '%s' run --%s 'git:%s@%s' --%s '%s'", c->self_exe,
                 linux_axis ? "linux" : "xen", rq->repo, sha, linux_axis ? "xen" : "linux",
                 linux_axis ? rq->xen_spec : rq->linux_spec);
    }
    buf_addf(&b, " --repro '%s' --iterations %ld --json -q", rq->repro, rq->iterations);
    if (rq->lazy_fpu)
        buf_adds(&b, " --lazy-fpu");
    if (rq->self_test_corrupt > 0)
        buf_addf(&b, " --self-test-corrupt %g", rq->self_test_corrupt);
    if (rq->dom0_args)
        buf_addf(&b, " --dom0-args '%s'", rq->dom0_args);
    return buf_detach(&b, NULL);
}

/* Starts one trial of sha in slot s. */
static int slot_start(struct bctx *c, struct slot *s, int slot_no, const char *sha, long idx,
                      struct err *e)
{
    struct sv env = SV_INIT;
    char *cmd = NULL;
    const char *argv[] = { "sh", "-c", NULL, NULL };
    struct proc_spec spec = { 0 };
    const char *cfg_env = getenv("PVLAB_CONFIG");
    int rc = -1;

    buf_init(&s->out, 1 << 20);
    s->sha = sha;
    s->idx = idx;
    free(s->wt);
    s->wt = NULL;
    if (c->rq.test_cmd || c->rq.build_cmd) {
        s->wt = xasprintf("%s/worktree-%d", c->dir, slot_no);
        /* repeated trials of one commit (the norm when p is small) reuse the checkout */
        if (strcmp(c->wt_sha[slot_no], sha) || !fs_exists(s->wt)) {
            c->wt_sha[slot_no][0] = '\0';
            if (git_worktree_checkout(c->rq.repo, s->wt, sha, e) < 0) {
                err_prefix(e, "cannot check out %.12s", sha);
                goto out;
            }
            snprintf(c->wt_sha[slot_no], sizeof(c->wt_sha[slot_no]), "%s", sha);
        }
    }
    cmd = trial_command(c, sha);
    argv[2] = cmd;
    sv_pushf(&env, "PVLAB_BISECT_COMMIT=%s", sha);
    sv_pushf(&env, "PVLAB_CACHE_DIR=%s", c->cfg->cache_dir);
    sv_pushf(&env, "PVLAB_STATE_DIR=%s", c->cfg->state_dir);
    if (cfg_env)
        sv_pushf(&env, "PVLAB_CONFIG=%s", cfg_env);
    spec.argv = argv;
    spec.env = (const char *const *)sv_argv(&env);
    spec.cwd = s->wt ? s->wt : c->rq.repo;
    spec.out = &s->out;
    spec.log_path = NULL;
    spec.timeout_ms = c->rq.trial_timeout_s > 0 ? c->rq.trial_timeout_s * 1000 : 0;
    if (proc_start(&spec, &s->p, e) < 0)
        goto out;
    s->busy = 1;
    s->start_ms = proc_now_ms();
    rc = 0;
out:
    free(cmd);
    sv_clear(&env);
    return rc;
}

/* Finds "PVLAB-BISECT-<tag> value" in the captured output (malloc'd) or NULL. */
static char *out_tag(const struct buf *out, const char *tag)
{
    const char *p = strstr(out->data, tag);
    if (!p)
        return NULL;
    p += strlen(tag);
    while (*p == ' ')
        p++;
    return xstrndup(p, strcspn(p, "\n"));
}

/*
 * Classifies a finished trial: outcome ("pass"/"fail"/"infra"/"skip"), detail, run id.
 * Returns -1 with e set when the trial command asked to abort (exit >= 128).
 */
static int slot_outcome(struct bctx *c, struct slot *s, const char **outcome_r, char **detail_r,
                        long long *run_id_r, struct err *e)
{
    int code = proc_exit_code(&s->p);
    const char *json_start;
    const char *json_verdict = NULL;
    char *skip = out_tag(&s->out, "PVLAB-BISECT-SKIP");
    char *art = out_tag(&s->out, "PVLAB-BISECT-ARTIFACT");

    *run_id_r = 0;
    *detail_r = NULL;
    if (art) {
        char hash[65];
        if (sha256_file_hex(art, hash, NULL) == 0) {
            sv_push(&c->art_sha, s->sha);
            sv_push(&c->art_hash, hash);
        }
    }
    json_start = strstr(s->out.data, "{\"id\":");
    if (json_start) {
        struct json_flat j;
        if (json_flat_parse(json_start, &j, NULL) == 0) {
            const char *v = json_flat_str(&j, "verdict");
            *run_id_r = (long long)json_flat_num(&j, "id", 0);
            if (v && (!strcmp(v, "infra") || !strcmp(v, "skip")) && code == 125)
                json_verdict = *outcome_r = !strcmp(v, "infra") ? "infra" : "skip";
            json_flat_free(&j);
        }
    }
    if (s->p.end == PROC_INTERRUPTED) {
        err_set(e, ERR_INTERRUPTED, "interrupted");
        free(skip);
        free(art);
        return -1;
    }
    if (s->p.end == PROC_TIMED_OUT) {
        *outcome_r = "infra";
        *detail_r = xasprintf("timed out after %d s", c->rq.trial_timeout_s);
    } else if (code == 0) {
        *outcome_r = "pass";
    } else if (code == 125) {
        /* a test command's 125 is git bisect's skip; a boot says infra or skip itself */
        if (!json_verdict)
            *outcome_r = c->rq.test_cmd || skip ? "skip" : "infra";
        *detail_r = skip ? xstrdup(skip) : xstrdup("exit 125 (untestable)");
    } else if (code > 0 && code < 128) {
        *outcome_r = "fail";
    } else {
        /* the reason is on the trial's stderr, and at its end */
        char *why = proc_err_tail(&s->p, 4, 1200);
        err_set(e, ERR_PROC, "the trial at %.12s %s %d (exit >= 128 stops the bisection, like "
                             "git bisect run)%s%s", s->sha, code < 0 ? "did not exit" : "exited",
                code, *why ? "; its last output:\n" : "", why);
        free(why);
        free(skip);
        free(art);
        return -1;
    }
    if (!*detail_r)
        *detail_r = xasprintf("exit %d", code);
    free(skip);
    free(art);
    return 0;
}

/*
 * Gives one trial outcome to the engine; the live path and resume's replay both come here, so a
 * resumed engine is the same as an uninterrupted one. idx < 0: not a candidate (a good end).
 */
static void feed(struct bctx *c, long idx, const char *outcome)
{
    if (idx >= 0) {
        /* a tested commit is built (or checked out): prefer it when nearly as informative */
        if (strcmp(outcome, "skip"))
            bisect_mark_built(c->eng, (size_t)idx);
        if (!strcmp(outcome, "pass"))
            bisect_observe(c->eng, (size_t)idx, BISECT_PASS);
        else if (!strcmp(outcome, "fail"))
            bisect_observe(c->eng, (size_t)idx, BISECT_FAIL);
        else if (!strcmp(outcome, "skip") ||
                 (!strcmp(outcome, "infra") && ++c->infra[idx] >= INFRA_RETRIES))
            bisect_observe(c->eng, (size_t)idx, BISECT_SKIP);
    }
    if (strcmp(outcome, "infra") && strcmp(outcome, "skip"))
        c->trials++;
}

/* Stores a finished trial with the posterior snapshot; feeds the engine. */
static int record(struct bctx *c, const char *phase, const char *sha, long idx,
                  const char *outcome, const char *detail, long long run_id, long long wall_ms,
                  struct err *e)
{
    struct bisect_trial_rec t = { 0 };
    size_t best;
    double prob = 0;

    feed(c, idx, outcome);
    best = bisect_best(c->eng, &prob);
    t.bisection_id = c->id;
    t.seq = ++c->seq;
    t.phase = (char *)phase;
    t.commit_sha = (char *)sha;
    t.outcome = (char *)outcome;
    t.run_id = run_id;
    t.detail = (char *)detail;
    t.wall_ms = wall_ms;
    t.best_sha = best == BISECT_NONE ? NULL : (char *)answer_sha(c, best);
    t.best_prob = prob;
    t.candidates = (long long)bisect_credible_set(c->eng, c->rq.confidence, NULL, 0);
    t.p_est = bisect_p_estimate(c->eng);
    if (store_bisect_trial_add(c->st, &t, e) < 0)
        return -1;
    if (c->ev && c->ev->trial)
        c->ev->trial(c->ev->ctx, phase, sha, outcome, detail);
    emit_status(c, "trial %d (%s %.12s: %s); best %.12s p=%.3f; %lld candidate%s; p~%.3g",
                t.seq, phase, sha, outcome, t.best_sha ? t.best_sha : "-", prob, t.candidates,
                t.candidates == 1 ? "" : "s", t.p_est);
    return 0;
}

/*
 * Runs trials of the given commits, up to `workers` at once, recording each as it ends.
 * shas[i] == NULL entries are ignored. Outcomes go to outcomes_r[i] (static strings).
 */
static int run_batch(struct bctx *c, const char *phase, const char **shas, size_t m,
                     const char **outcomes_r, struct err *e)
{
    struct slot slots[MAX_WORKERS];
    struct proc_loop *loop = proc_loop_new();
    size_t next = 0, done = 0;
    int k = c->rq.workers < 1 ? 1 : c->rq.workers > MAX_WORKERS ? MAX_WORKERS : c->rq.workers;
    size_t owner[MAX_WORKERS];
    int rc = -1;

    memset(slots, 0, sizeof(slots));
    for (int i = 0; i < k; i++)
        slots[i].p = (struct proc)PROC_INIT;
    while (done < m) {
        struct proc *ended;

        for (int i = 0; i < k && next < m; i++) {
            if (slots[i].busy)
                continue;
            if (slot_start(c, &slots[i], i, shas[next], eng_index(c, shas[next]), e) < 0 ||
                proc_loop_add(loop, &slots[i].p, e) < 0)
                goto out;
            owner[i] = next++;
        }
        /* one wait for every worker: whichever trial ends first is recorded first */
        if (proc_loop_run(loop, -1, e) < 0)
            goto out;
        while ((ended = proc_loop_ended(loop))) {
            int i = 0;
            const char *outcome = "infra";
            char *detail = NULL;
            long long run_id = 0;
            int r;

            while (i < k - 1 && &slots[i].p != ended) /* only slots are in the loop */
                i++;
            slots[i].busy = 0;
            r = slot_outcome(c, &slots[i], &outcome, &detail, &run_id, e);
            if (r == 0)
                r = record(c, phase, slots[i].sha, slots[i].idx, outcome, detail, run_id,
                           proc_now_ms() - slots[i].start_ms, e);
            if (outcomes_r)
                outcomes_r[owner[i]] = outcome;
            free(detail);
            proc_release(&slots[i].p);
            buf_release(&slots[i].out);
            done++;
            if (r < 0)
                goto out;
        }
    }
    rc = 0;
out:
    proc_loop_kill_all(loop); /* the trials still running, all at once */
    proc_loop_free(loop);
    for (int i = 0; i < k; i++) {
        if (slots[i].busy)
            proc_kill(&slots[i].p);
        proc_release(&slots[i].p);
        buf_release(&slots[i].out);
        free(slots[i].wt);
    }
    return rc;
}

/* Runs sha until `want` is seen or max trials; returns the count of `want`, or -1. */
static int run_until(struct bctx *c, const char *phase, const char *sha, const char *want,
                     int max, int *ran_r, struct err *e)
{
    int seen = 0, ran = 0;

    while (ran < max && !seen) {
        const char *outcome = NULL;
        if (run_batch(c, phase, &sha, 1, &outcome, e) < 0)
            return -1;
        if (strcmp(outcome, "infra"))
            ran++;
        else if (++ran > max + INFRA_RETRIES)
            break;
        seen += !strcmp(outcome, want);
    }
    *ran_r = ran;
    return seen;
}

/* Trials already recorded for (phase, sha) with outcome (NULL = any); used on resume. */
static int count_recorded(struct bisect_trial_rec *t, size_t n, const char *phase,
                          const char *sha, const char *outcome)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].phase, phase) && (!sha || !strcmp(t[i].commit_sha, sha)) &&
            (!outcome || !strcmp(t[i].outcome, outcome)))
            k++;
    return k;
}

/* Loads the DAG and builds the engine's index space; validates the ends' ancestry. */
static int setup(struct bctx *c, struct err *e)
{
    struct bisect_opts o = { 0 };
    const char *old_end, *new_end;
    int r;

    /* regression: goods are older; fix: bad is older. Candidates lie between. */
    for (size_t i = 0; i < c->good_sha.n; i++) {
        old_end = c->rq.find_fix ? c->bad_sha : c->good_sha.v[i];
        new_end = c->rq.find_fix ? c->good_sha.v[i] : c->bad_sha;
        r = git_is_ancestor(c->rq.repo, old_end, new_end, e);
        if (r < 0)
            return -1;
        if (!r) {
            if (c->rq.find_fix)
                err_set(e, ERR_USAGE, "with --find fix the bad commit must be an ancestor of the "
                                      "good one, and %.12s is not an ancestor of %.12s (drop "
                                      "--find fix to look for a regression)", old_end, new_end);
            else
                err_set(e, ERR_USAGE, "good %.12s is not an ancestor of bad %.12s; if the bug "
                                      "disappeared between them, use --find fix", old_end,
                        new_end);
            return -1;
        }
    }
    if (!c->rq.find_fix) {
        if (gitdag_load(c->rq.repo, c->bad_sha, &c->good_sha, 0, &c->dag, e) < 0)
            return -1;
        c->n = c->dag.n;
        c->eng_sha = xcalloc(c->n, sizeof(char *));
        for (size_t j = 0; j < c->n; j++)
            c->eng_sha[j] = c->dag.sha[j];
    } else {
        /* fix: candidates c0..c_{m-1} (c_{m-1} = good end, fixed) on the first-parent line;
         * the engine looks for the LAST unfixed commit on the reversed line [c_{m-2}..c0, bad],
         * whose known-bad end is the old bad commit; the fix is the commit after it */
        struct sv bad_as_good = SV_INIT;
        sv_push(&bad_as_good, c->bad_sha);
        r = gitdag_load(c->rq.repo, c->good_sha.v[0], &bad_as_good, 1, &c->dag, e);
        sv_clear(&bad_as_good);
        if (r < 0)
            return -1;
        c->n = c->dag.n;
        c->eng_sha = xcalloc(c->n, sizeof(char *));
        for (size_t j = 0; j + 1 < c->n; j++)
            c->eng_sha[j] = c->dag.sha[c->n - 2 - j];
        c->eng_sha[c->n - 1] = c->bad_sha;
        c->fix_after_last = c->dag.sha[c->n - 1];
    }
    o.p = c->rq.p;
    o.confidence = c->rq.confidence;
    o.max_trials = c->rq.max_trials;
    {
        struct bisect_dag d = { c->dag.n, c->dag.parent_off, c->dag.parents };
        c->eng = bisect_new(c->rq.find_fix || c->dag.linear ? NULL : &d, c->n, &o, e);
    }
    if (!c->eng)
        return -1;
    c->infra = xcalloc(c->n, sizeof(int));
    return 0;
}

/* Replays stored trials into the engine (resume): same observations, same state. */
static void replay(struct bctx *c, struct bisect_trial_rec *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        feed(c, eng_index(c, t[i].commit_sha), t[i].outcome);
        c->seq = t[i].seq;
    }
}

/* A check's result in the report. */
struct check {
    const char *sha;
    int trials, fails;
};

static void count_check(struct bisect_trial_rec *t, size_t n, const char *phase, struct check *k)
{
    k->trials = k->fails = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].phase, phase) && !strcmp(t[i].commit_sha, k->sha)) {
            if (!strcmp(t[i].outcome, "pass") || !strcmp(t[i].outcome, "fail"))
                k->trials++;
            k->fails += !strcmp(t[i].outcome, "fail");
        }
}

static const char *artifact_hash(const struct bctx *c, const char *sha)
{
    for (size_t i = c->art_sha.n; i > 0; i--)
        if (!strcmp(c->art_sha.v[i - 1], sha))
            return c->art_hash.v[i - 1];
    return NULL;
}

/* Writes the final report into the store (status done). */
static int finish(struct bctx *c, const char *outcome, const char *why, struct err *e)
{
    struct bisect_rec b = { 0 };
    struct bisect_trial_rec *t = NULL;
    size_t nt = 0, best = BISECT_NONE, nset, i;
    size_t set[32];
    double prob = 0;
    struct buf out = BUF_INIT;
    struct jw w;
    char *subject = NULL, *author = NULL;
    const char *ans = NULL;
    struct check bad = { c->bad_sha, 0, 0 }, vans = { NULL, 0, 0 }, vpar = { NULL, 0, 0 };
    int rc = -1;

    if (store_bisect_get(c->st, c->id, &b, &t, &nt, e) < 0)
        goto out;
    count_check(t, nt, "check-bad", &bad);
    if (c->eng) {
        best = bisect_best(c->eng, &prob);
        if (best != BISECT_NONE)
            ans = answer_sha(c, best);
    }
    jw_init(&w, &out);
    jw_obj(&w);
    jw_kv_s(&w, "outcome", outcome);
    jw_kv_s(&w, "why", why);
    jw_kv_s(&w, "find", c->rq.find_fix ? "fix" : "regression");
    if (ans && (!strcmp(outcome, "found") || !strcmp(outcome, "credible-set") ||
                !strcmp(outcome, "budget"))) {
        git_describe_commit(c->rq.repo, ans, &subject, &author, NULL);
        jw_kv_s(&w, "culprit", ans);
        jw_kv_s(&w, "subject", subject);
        jw_kv_s(&w, "author", author);
        jw_kv_dbl(&w, "probability", prob);
        jw_kv_dbl(&w, "p_miss", 1 - prob);
        nset = bisect_credible_set(c->eng, c->rq.confidence, set, 32);
        jw_key(&w, "credible_set");
        jw_arr(&w);
        for (i = 0; i < nset && i < 32; i++) {
            jw_obj(&w);
            jw_kv_s(&w, "sha", answer_sha(c, set[i]));
            jw_kv_dbl(&w, "prob", bisect_prob(c->eng, set[i]));
            jw_end(&w);
        }
        jw_end(&w);
        jw_kv_int(&w, "credible_set_size", (long long)nset);
        vans.sha = ans;
        count_check(t, nt, "verify", &vans);
        jw_key(&w, "verify");
        jw_obj(&w);
        jw_kv_int(&w, "answer_trials", vans.trials);
        jw_kv_int(&w, "answer_fails", vans.fails);
        for (i = 0; i < nt; i++)
            if (!strcmp(t[i].phase, "verify") && strcmp(t[i].commit_sha, ans)) {
                vpar.sha = t[i].commit_sha;
                break;
            }
        if (vpar.sha) {
            count_check(t, nt, "verify", &vpar);
            jw_kv_s(&w, "parent", vpar.sha);
            jw_kv_int(&w, "parent_trials", vpar.trials);
            jw_kv_int(&w, "parent_fails", vpar.fails);
        }
        jw_end(&w);
        if (vpar.sha && artifact_hash(c, ans) && artifact_hash(c, vpar.sha))
            jw_kv_bool(&w, "identical_artifact",
                       !strcmp(artifact_hash(c, ans), artifact_hash(c, vpar.sha)));
    }
    jw_kv_int(&w, "trials", c->trials);
    jw_kv_dbl(&w, "p_estimate", c->eng ? bisect_p_estimate(c->eng) : 0);
    jw_kv_int(&w, "candidates", (long long)c->n);
    jw_key(&w, "check_bad");
    jw_obj(&w);
    jw_kv_int(&w, "trials", bad.trials);
    jw_kv_int(&w, "fails", bad.fails);
    jw_end(&w);
    jw_key(&w, "check_good");
    jw_arr(&w);
    for (i = 0; i < c->good_sha.n; i++) {
        struct check g = { c->good_sha.v[i], 0, 0 };
        count_check(t, nt, "check-good", &g);
        jw_obj(&w);
        jw_kv_s(&w, "sha", g.sha);
        jw_kv_int(&w, "trials", g.trials);
        jw_kv_int(&w, "fails", g.fails);
        jw_end(&w);
    }
    jw_end(&w);
    jw_end(&w);
    if (store_bisect_set_status(c->st, c->id, "done", out.data, e) < 0)
        goto out;
    rc = 0;
out:
    for (i = 0; i < nt; i++)
        bisect_trial_rec_free(&t[i]);
    free(t);
    bisect_rec_free(&b);
    buf_release(&out);
    free(subject);
    free(author);
    return rc;
}

static double p_for_counts(const struct bctx *c)
{
    double p = c->rq.p > 0 ? c->rq.p : bisect_p_estimate(c->eng);
    return p > 0 ? p : 0.1;
}

/* The phases from wherever the recorded trials left off. */
static int drive(struct bctx *c, struct bisect_trial_rec *t, size_t nt, struct err *e)
{
    int ran = 0, seen;
    size_t pts[MAX_WORKERS];
    const char *shas[MAX_WORKERS];

    /* 1. the bad end must fail (this also starts the p estimate) */
    if (count_recorded(t, nt, "check-bad", c->bad_sha, "fail") == 0) {
        int before = count_recorded(t, nt, "check-bad", c->bad_sha, NULL);
        emit_status(c, "checking that the bad end %.12s fails", c->bad_sha);
        seen = run_until(c, "check-bad", c->bad_sha, "fail", c->rq.check_bad_max - before, &ran,
                         e);
        if (seen < 0)
            return -1;
        if (!seen)
            return finish(c, "bad-end-passes", "the bad end never failed: raise --check-bad "
                          "or check the reproducer", e);
    }
    /* 2. the good ends must pass */
    for (size_t g = 0; g < c->good_sha.n; g++) {
        int done = count_recorded(t, nt, "check-good", c->good_sha.v[g], NULL);
        int want = c->rq.check_good - done;
        if (count_recorded(t, nt, "check-good", c->good_sha.v[g], "fail"))
            return finish(c, "good-end-fails", "the good end fails too", e);
        if (want <= 0)
            continue;
        emit_status(c, "checking that the good end %.12s passes", c->good_sha.v[g]);
        for (int i = 0; i < want; i++) {
            const char *o = NULL;
            const char *sha = c->good_sha.v[g];
            if (run_batch(c, "check-good", &sha, 1, &o, e) < 0)
                return -1;
            if (!strcmp(o, "fail"))
                return finish(c, "good-end-fails", "the good end fails too: the bug is older "
                              "than the good commit, or the test is broken", e);
        }
    }
    /* 3. bisect */
    for (;;) {
        size_t k;
        if (proc_interrupted()) {
            err_set(e, ERR_INTERRUPTED, "interrupted");
            return -1;
        }
        if (bisect_done(c->eng))
            break;
        if (c->rq.max_trials && c->trials >= c->rq.max_trials)
            break;
        k = bisect_next(c->eng, pts, (size_t)(c->rq.workers < 1 ? 1 : c->rq.workers));
        if (k == 0)
            break;
        for (size_t i = 0; i < k; i++)
            shas[i] = c->eng_sha[pts[i]];
        if (run_batch(c, "bisect", shas, k, NULL, e) < 0)
            return -1;
    }
    /* 4. verify: the answer and its parent, like osstest's final pair */
    {
        double prob;
        size_t best = bisect_best(c->eng, &prob);
        const char *ans, *par, *fail_side, *pass_side;
        int cap, pass_n;
        char *parent = NULL;
        struct err ge = ERR_INIT;

        if (best == BISECT_NONE)
            return finish(c, "contradiction", "the observations contradict the model (a "
                          "commit passed after one of its ancestors failed with p = 1?)", e);
        ans = answer_sha(c, best);
        if (c->rq.verify && count_recorded(t, nt, "verify", NULL, NULL) == 0) {
            char *rev = xasprintf("%s^", ans);
            if (git_resolve(c->rq.repo, rev, &parent, &ge) == 0) {
                par = parent;
                fail_side = c->rq.find_fix ? par : ans;
                pass_side = c->rq.find_fix ? ans : par;
                cap = (int)ceil(3 / p_for_counts(c));
                pass_n = cap > 30 ? 30 : cap;
                if (cap > c->rq.check_bad_max)
                    cap = c->rq.check_bad_max;
                emit_status(c, "verifying %.12s and its parent", ans);
                if (run_until(c, "verify", fail_side, "fail", cap, &ran, e) < 0) {
                    free(rev);
                    free(parent);
                    return -1;
                }
                for (int i = 0; i < pass_n; i++) {
                    const char *o = NULL;
                    if (run_batch(c, "verify", &pass_side, 1, &o, e) < 0) {
                        free(rev);
                        free(parent);
                        return -1;
                    }
                    if (!strcmp(o, "fail"))
                        break;
                }
            }
            free(rev);
            free(parent);
        }
        best = bisect_best(c->eng, &prob);
        if (best == BISECT_NONE)
            return finish(c, "contradiction", "the observations contradict the model", e);
        if (prob >= c->rq.confidence)
            return finish(c, "found", NULL, e);
        if (c->rq.max_trials && c->trials >= c->rq.max_trials)
            return finish(c, "budget", "the trial budget is spent: the answer is the credible "
                          "set", e);
        return finish(c, "credible-set", "untestable commits around the answer (or nothing left "
                      "to test): the answer is the credible set", e);
    }
}

static void bctx_free(struct bctx *c)
{
    bisect_free(c->eng);
    gitdag_free(&c->dag);
    free(c->eng_sha);
    free(c->infra);
    free(c->bad_sha);
    free(c->dir);
    free(c->self_exe);
    sv_clear(&c->good_sha);
    sv_clear(&c->owned);
    sv_clear(&c->art_sha);
    sv_clear(&c->art_hash);
}

static int common_init(struct bctx *c, const struct config *cfg, struct store *st,
                       const struct bisect_events *ev, struct err *e)
{
    char exe[PATH_MAX];
    ssize_t r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    c->cfg = cfg;
    c->st = st;
    c->ev = ev;
    if (r <= 0) {
        err_sys(e, errno, "cannot find the pvlab binary (/proc/self/exe)");
        return -1;
    }
    exe[r] = '\0';
    c->self_exe = xstrdup(exe);
    return 0;
}

/* Runs (or continues) a bisection whose context is set up; marks the outcome in the store. */
static int run_and_close(struct bctx *c, struct bisect_trial_rec *t, size_t nt, struct err *e)
{
    int rc;

    c->dir = xasprintf("%s/bisect/%lld", c->cfg->state_dir, c->id);
    if (fs_mkdirs(c->dir, e) < 0)
        return -1;
    rc = drive(c, t, nt, e);
    if (rc < 0) {
        struct err e2 = ERR_INIT;
        store_bisect_set_status(c->st, c->id, proc_interrupted() ? "interrupted" : "error", NULL,
                                &e2);
    }
    /* worktrees live under the bisection's directory; drop their git registrations */
    for (int i = 0; i < MAX_WORKERS; i++) {
        char *wt = xasprintf("%s/worktree-%d", c->dir, i);
        if (fs_exists(wt))
            git_worktree_remove(c->rq.repo, wt);
        free(wt);
    }
    return rc;
}

int bisect_start(const struct config *cfg, struct store *st, const struct bisect_request *rq,
                 const struct bisect_events *ev, long long *id_r, struct err *e)
{
    struct bctx c;
    struct bisect_rec b = { 0 };
    char *abs = NULL, *goods = NULL, *params = NULL;
    int rc = -1;

    memset(&c, 0, sizeof(c));
    *id_r = 0;
    c.rq = *rq;
    if (common_init(&c, cfg, st, ev, e) < 0)
        goto out;
    if (!rq->test_cmd && !rq->axis) {
        err_set(e, ERR_USAGE, "say what a trial is: --test-cmd CMD, or --axis linux|xen (boot "
                              "trials of the commit with the other axis fixed)");
        goto out;
    }
    if (rq->good.n == 0 || !rq->bad) {
        err_set(e, ERR_USAGE, "both --good and --bad are needed");
        goto out;
    }
    if (git_check_repo(rq->repo, e) < 0 || !(abs = fs_abspath(rq->repo, e)))
        goto out;
    c.rq.repo = abs;
    if (git_check_clean(abs, e) < 0)
        goto out;
    if (git_resolve(abs, rq->bad, &c.bad_sha, e) < 0)
        goto out;
    for (size_t i = 0; i < rq->good.n; i++) {
        char *sha;
        if (git_resolve(abs, rq->good.v[i], &sha, e) < 0)
            goto out;
        sv_push_owned(&c.good_sha, sha);
    }
    if (c.rq.find_fix && c.good_sha.n != 1) {
        err_set(e, ERR_USAGE, "--find fix takes exactly one --good (the newer, fixed commit)");
        goto out;
    }
    if (setup(&c, e) < 0)
        goto out;
    goods = sv_join(&c.good_sha, ",");
    params = params_json(&c.rq);
    b.repo = abs;
    b.axis = (char *)(rq->axis ? rq->axis : "test-cmd");
    b.find = (char *)(rq->find_fix ? "fix" : "regression");
    b.good = goods;
    b.bad = c.bad_sha;
    b.params_json = params;
    if (store_bisect_begin(st, &b, e) < 0)
        goto out;
    c.id = *id_r = b.id;
    emit_status(&c, "bisection %lld: %zu candidate commits", c.id, c.n);
    rc = run_and_close(&c, NULL, 0, e);
out:
    free(b.created);
    free(goods);
    free(params);
    free(abs);
    bctx_free(&c);
    return rc;
}

int bisect_resume(const struct config *cfg, struct store *st, long long id,
                  const struct bisect_events *ev, struct err *e)
{
    struct bctx c;
    struct bisect_rec b = { 0 };
    struct bisect_trial_rec *t = NULL;
    size_t nt = 0;
    int alive, rc = -1;

    memset(&c, 0, sizeof(c));
    if (common_init(&c, cfg, st, ev, e) < 0)
        goto out;
    if (store_bisect_get(st, id, &b, &t, &nt, e) < 0)
        goto out;
    alive = store_bisect_owner_alive(st, id, e);
    if (alive < 0)
        goto out;
    if (alive) {
        err_set(e, ERR_USAGE, "bisection %lld is still running in another pvlab process", id);
        goto out;
    }
    if (!strcmp(b.status, "done")) {
        err_set(e, ERR_USAGE, "bisection %lld is already done (pvlab bisect log %lld)", id, id);
        goto out;
    }
    if (params_parse(&c, b.params_json ? b.params_json : "{}", e) < 0)
        goto out;
    sv_push(&c.owned, b.repo);
    c.rq.repo = c.owned.v[c.owned.n - 1];
    c.rq.find_fix = b.find && !strcmp(b.find, "fix");
    if (strcmp(b.axis, "test-cmd")) {
        sv_push(&c.owned, b.axis);
        c.rq.axis = c.owned.v[c.owned.n - 1];
    }
    c.bad_sha = xstrdup(b.bad);
    sv_split(&c.good_sha, b.good, ",");
    if (setup(&c, e) < 0)
        goto out;
    c.id = id;
    replay(&c, t, nt);
    if (store_bisect_claim(st, id, e) < 0)
        goto out;
    emit_status(&c, "bisection %lld resumed after %zu recorded trials", id, nt);
    rc = run_and_close(&c, t, nt, e);
out:
    for (size_t i = 0; i < nt; i++)
        bisect_trial_rec_free(&t[i]);
    free(t);
    bisect_rec_free(&b);
    bctx_free(&c);
    return rc;
}

int bisect_stop(struct store *st, long long id, struct err *e)
{
    struct bisect_rec b = { 0 };
    int alive, rc = -1;

    if (store_bisect_get(st, id, &b, NULL, NULL, e) < 0)
        return -1;
    if (!strcmp(b.status, "done")) {
        err_set(e, ERR_USAGE, "bisection %lld is already done", id);
        goto out;
    }
    alive = store_bisect_owner_alive(st, id, e);
    if (alive < 0)
        goto out;
    if (alive) {
        long long pid = 0;
        /* the owner stops its trials on SIGTERM and records itself interrupted */
        if (store_bisect_owner_pid(st, id, &pid, e) < 0)
            goto out;
        if (pid > 0 && kill((pid_t)pid, SIGTERM) < 0 && errno != ESRCH) {
            err_sys(e, errno, "cannot signal pvlab process %lld", pid);
            goto out;
        }
        for (int i = 0; i < 100 && store_bisect_owner_alive(st, id, NULL) == 1; i++)
            usleep(100000);
    }
    rc = store_bisect_set_status(st, id, "stopped", NULL, e);
out:
    bisect_rec_free(&b);
    return rc;
}
