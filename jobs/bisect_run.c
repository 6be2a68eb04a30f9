#include "jobs/bisect_run_int.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/store.h"
#include "kernels/kernels.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/xalloc.h"

void bisect_request_defaults(const struct config *cfg, struct bisect_request *rq)
{
    memset(rq, 0, sizeof(*rq));
    rq->repo = ".";
    rq->xen_spec = cfg->run_xen;
    rq->linux_spec = cfg->run_linux;
    rq->repro = cfg->run_repro;
    rq->iterations = cfg->run_iterations;
    rq->confidence = cfg->bisect_confidence;
    rq->workers = cfg->bisect_workers;
    rq->check_good = cfg->bisect_check_good;
    rq->check_bad_max = cfg->bisect_check_bad_max;
    rq->verify = 1;
    rq->fresh_every = cfg->run_fresh_every;
}

void bctx_status(struct bctx *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (c->ev && c->ev->status)
        c->ev->status(c->ev->ctx, line);
}

long bctx_index(const struct bctx *c, const char *sha)
{
    for (size_t j = 0; j < c->n; j++)
        if (!strcmp(c->eng_sha[j], sha))
            return (long)j;
    return -1;
}

const char *bctx_answer(const struct bctx *c, size_t j)
{
    if (!c->rq.find_fix)
        return c->eng_sha[j];
    return j == 0 ? c->fix_after_last : c->eng_sha[j - 1];
}

void bctx_feed(struct bctx *c, long idx, enum verdict_kind outcome)
{
    if (idx >= 0) {
        /* a tested commit is built (or checked out): prefer it when nearly as informative */
        if (outcome != VERDICT_SKIP)
            bisect_mark_built(c->eng, (size_t)idx);
        if (outcome == VERDICT_PASS)
            bisect_observe(c->eng, (size_t)idx, BISECT_PASS);
        else if (outcome == VERDICT_FAIL)
            bisect_observe(c->eng, (size_t)idx, BISECT_FAIL);
        else if (outcome == VERDICT_SKIP ||
                 (outcome == VERDICT_INFRA && ++c->infra[idx] >= BISECT_INFRA_RETRIES))
            bisect_observe(c->eng, (size_t)idx, BISECT_SKIP);
    }
    if (outcome == VERDICT_PASS || outcome == VERDICT_FAIL)
        c->trials++;
}

/* Records the request as JSON: everything resume needs. */
static char *params_json(const struct bisect_request *rq)
{
    struct buf b = BUF_INIT;
    struct jw w;

    jw_init(&w, &b);
    jw_obj(&w);
    jw_kv_s(&w, "alias", rq->alias);
    if (rq->request_id > 0)
        jw_kv_int(&w, "request", rq->request_id);
    jw_kv_s(&w, "test_cmd", rq->test_cmd);
    jw_kv_s(&w, "axis", rq->axis);
    jw_kv_s(&w, "build_cmd", rq->build_cmd);
    jw_kv_s(&w, "build_opts", rq->build_opts);
    jw_kv_s(&w, "xen", rq->xen_spec);
    jw_kv_s(&w, "linux", rq->linux_spec);
    jw_kv_s(&w, "repro", rq->repro);
    if (rq->repro_args)
        jw_kv_s(&w, "repro_args", rq->repro_args);
    if (rq->amplifiers)
        jw_kv_s(&w, "amplifiers", rq->amplifiers);
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
    jw_kv_int(&w, "fresh_boot_every", rq->fresh_every);
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
#define S(field, key)                                                                              \
    do {                                                                                           \
        const char *v_ = json_flat_str(&j, key);                                                   \
        if (v_) {                                                                                  \
            sv_push(&c->owned, v_);                                                                \
            rq->field = c->owned.v[c->owned.n - 1];                                                \
        }                                                                                          \
    } while (0)
    S(alias, "alias");
    S(test_cmd, "test_cmd");
    S(axis, "axis");
    S(build_cmd, "build_cmd");
    S(build_opts, "build_opts");
    S(xen_spec, "xen");
    S(linux_spec, "linux");
    S(repro, "repro");
    S(repro_args, "repro_args");
    S(amplifiers, "amplifiers");
    S(dom0_args, "dom0_args");
#undef S
    rq->iterations = (long)json_flat_num(&j, "iterations", (double)rq->iterations);
    rq->lazy_fpu = (int)json_flat_num(&j, "lazy_fpu", 0);
    rq->self_test_corrupt = json_flat_num(&j, "self_test_corrupt", 0);
    rq->p = json_flat_num(&j, "p", 0);
    rq->confidence = json_flat_num(&j, "confidence", rq->confidence);
    rq->workers = (int)json_flat_num(&j, "workers", rq->workers);
    rq->max_trials = (long)json_flat_num(&j, "max_trials", 0);
    rq->check_good = (int)json_flat_num(&j, "check_good", rq->check_good);
    rq->check_bad_max = (int)json_flat_num(&j, "check_bad_max", rq->check_bad_max);
    rq->verify = (int)json_flat_num(&j, "verify", 1);
    rq->trial_timeout_s = (int)json_flat_num(&j, "trial_timeout_s", 0);
    rq->fresh_every = (int)json_flat_num(&j, "fresh_boot_every", rq->fresh_every);
    rq->request_id = (long long)json_flat_num(&j, "request", 0);
    json_flat_free(&j);
    return 0;
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
                err_set(e, ERR_USAGE,
                        "with --find fix the bad commit must be an ancestor of the "
                        "good one, and %.12s is not an ancestor of %.12s (drop "
                        "--find fix to look for a regression)",
                        old_end, new_end);
            else
                err_set(e, ERR_USAGE,
                        "good %.12s is not an ancestor of bad %.12s; if the bug "
                        "disappeared between them, use --find fix",
                        old_end, new_end);
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
    c->infra = xcalloc(c->n ? c->n : 1, sizeof(int));
    c->booted = xcalloc(c->n ? c->n : 1, sizeof(int));
    return 0;
}

/* Replays stored trials into the engine (resume): same observations, same state. */
static void replay(struct bctx *c, const struct bisect_trial_rec *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bctx_feed(c, bctx_index(c, t[i].commit_sha), t[i].outcome);
        c->seq = t[i].seq;
    }
    c->attempt = c->seq;
}

/* Trials already recorded for (phase, sha) with outcome (any when any_outcome); on resume. */
static int count_recorded(const struct bisect_trial_rec *t, size_t n, const char *phase,
                          const char *sha, int any_outcome, enum verdict_kind outcome)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].phase, phase) && (!sha || !strcmp(t[i].commit_sha, sha)) &&
            (any_outcome || t[i].outcome == outcome))
            k++;
    return k;
}

/* One trial of sha; its verdict in *o. */
static int run_one(struct bctx *c, const char *phase, const char *sha, enum verdict_kind *o,
                   struct err *e)
{
    return bisect_run_batch(c, phase, &sha, 1, o, e);
}

/* Runs sha until `want` is seen or max informative trials; returns how often, or -1. */
static int run_until(struct bctx *c, const char *phase, const char *sha, enum verdict_kind want,
                     int max, struct err *e)
{
    int seen = 0, ran = 0, infra = 0;

    while (ran < max && !seen) {
        enum verdict_kind o = VERDICT_INFRA;
        if (run_one(c, phase, sha, &o, e) < 0)
            return -1;
        if (o == VERDICT_INFRA && ++infra > BISECT_INFRA_RETRIES)
            break;
        if (o != VERDICT_INFRA)
            ran++;
        seen += o == want;
    }
    return seen;
}

/* The rate to size re-tests by: the given p, else the estimate, never 0. */
static double p_for_counts(const struct bctx *c)
{
    double p = c->rq.p > 0 ? c->rq.p : bisect_p_estimate(c->eng);
    return p > 0 ? p : 0.1;
}

/* Passes needed before a pass-side commit counts as clean at the requested confidence. */
static int passes_needed(const struct bctx *c)
{
    double p = p_for_counts(c);
    int n;

    if (p >= 1)
        return 1;
    n = (int)ceil(log(1 - c->rq.confidence) / log(1 - p));
    return n < 1 ? 1 : n > 30 ? 30 : n;
}

/* The first two phases: the bad end must fail (this also starts the p estimate), the goods
 * must pass. Returns 1 when the bisection ended (reported), 0 to go on, -1 on error. */
static int check_ends(struct bctx *c, const struct bisect_trial_rec *t, size_t nt, struct err *e)
{
    int seen;

    if (count_recorded(t, nt, "check-bad", c->bad_sha, 0, VERDICT_FAIL) == 0) {
        int before = count_recorded(t, nt, "check-bad", c->bad_sha, 1, VERDICT_PASS);
        bctx_status(c, "checking that the bad end %.12s fails", c->bad_sha);
        seen = run_until(c, "check-bad", c->bad_sha, VERDICT_FAIL, c->rq.check_bad_max - before, e);
        if (seen < 0)
            return -1;
        if (!seen)
            return bisect_finish(c, "bad-end-passes",
                                 "the bad end never failed: raise "
                                 "--check-bad or check the reproducer",
                                 e) < 0
                       ? -1
                       : 1;
    }
    for (size_t g = 0; g < c->good_sha.n; g++) {
        const char *sha = c->good_sha.v[g];
        /* a deterministic test (p = 1) needs one look */
        int want = c->rq.p >= 1 && c->rq.check_good > 1 ? 1 : c->rq.check_good;
        int done = count_recorded(t, nt, "check-good", sha, 1, VERDICT_PASS);
        if (count_recorded(t, nt, "check-good", sha, 0, VERDICT_FAIL))
            return bisect_finish(c, "good-end-fails", "the good end fails too", e) < 0 ? -1 : 1;
        if (done < want)
            bctx_status(c, "checking that the good end %.12s passes", sha);
        for (int i = done; i < want; i++) {
            enum verdict_kind o = VERDICT_INFRA;
            if (run_one(c, "check-good", sha, &o, e) < 0)
                return -1;
            if (o == VERDICT_FAIL)
                return bisect_finish(c, "good-end-fails",
                                     "the good end fails too: the bug is "
                                     "older than the good commit, or the test is broken",
                                     e) < 0
                           ? -1
                           : 1;
        }
    }
    return 0;
}

/* The last phase: the answer and its parent again, like osstest's final pair. */
static int verify(struct bctx *c, const char *ans, struct err *e)
{
    char *parent = NULL, *rev = xasprintf("%s^", ans);
    const char *fail_side, *pass_side;
    struct err ge = ERR_INIT;
    int cap, pass_n, rc = -1;

    if (git_resolve(c->rq.repo, rev, &parent, &ge) < 0) {
        rc = 0; /* a root commit has no parent to compare with */
        goto out;
    }
    fail_side = c->rq.find_fix ? parent : ans;
    pass_side = c->rq.find_fix ? ans : parent;
    cap = (int)ceil(3 / p_for_counts(c));
    if (cap > c->rq.check_bad_max)
        cap = c->rq.check_bad_max;
    pass_n = passes_needed(c);
    bctx_status(c, "verifying %.12s and its parent", ans);
    if (run_until(c, "verify", fail_side, VERDICT_FAIL, cap, e) < 0)
        goto out;
    for (int i = 0; i < pass_n; i++) {
        enum verdict_kind o = VERDICT_INFRA;
        if (run_one(c, "verify", pass_side, &o, e) < 0)
            goto out;
        if (o == VERDICT_FAIL)
            break;
    }
    rc = 0;
out:
    free(rev);
    free(parent);
    return rc;
}

/* The phases from wherever the recorded trials left off. */
static int drive(struct bctx *c, const struct bisect_trial_rec *t, size_t nt, struct err *e)
{
    size_t pts[BISECT_MAX_WORKERS], best;
    const char *shas[BISECT_MAX_WORKERS];
    enum verdict_kind outs[BISECT_MAX_WORKERS];
    double prob;
    int r = check_ends(c, t, nt, e);

    if (r != 0)
        return r < 0 ? -1 : 0;
    for (;;) {
        size_t k;
        if (proc_interrupted()) {
            err_set(e, ERR_INTERRUPTED, "interrupted");
            return -1;
        }
        if (bisect_done(c->eng) || (c->rq.max_trials && c->trials >= c->rq.max_trials))
            break;
        k = bisect_next(c->eng, pts, (size_t)(c->rq.workers < 1 ? 1 : c->rq.workers));
        if (k == 0)
            break;
        for (size_t i = 0; i < k; i++)
            shas[i] = c->eng_sha[pts[i]];
        if (bisect_run_batch(c, "bisect", shas, k, outs, e) < 0)
            return -1;
    }
    best = bisect_best(c->eng, &prob);
    if (best == BISECT_NONE)
        return bisect_finish(c, "contradiction",
                             "the observations contradict the model (a "
                             "commit passed after one of its ancestors failed with p = 1?)",
                             e);
    if (c->rq.verify && count_recorded(t, nt, "verify", NULL, 1, VERDICT_PASS) == 0 &&
        verify(c, bctx_answer(c, best), e) < 0)
        return -1;
    best = bisect_best(c->eng, &prob);
    if (best == BISECT_NONE)
        return bisect_finish(c, "contradiction", "the observations contradict the model", e);
    if (prob >= c->rq.confidence)
        return bisect_finish(c, "found", NULL, e);
    if (c->rq.max_trials && c->trials >= c->rq.max_trials)
        return bisect_finish(c, "budget",
                             "the trial budget is spent: the answer is the "
                             "credible set",
                             e);
    return bisect_finish(c, "credible-set",
                         "untestable commits around the answer (or nothing "
                         "left to test): the answer is the credible set",
                         e);
}

static void bctx_free(struct bctx *c)
{
    bisect_lanes_free(c);
    bisect_free(c->eng);
    gitdag_free(&c->dag);
    free(c->eng_sha);
    free(c->infra);
    free(c->booted);
    free(c->bad_sha);
    free(c->dir);
    sv_clear(&c->good_sha);
    sv_clear(&c->owned);
    sv_clear(&c->art_sha);
    sv_clear(&c->art_hash);
}

/* Runs (or continues) a bisection whose context is set up; marks the outcome in the store. */
static int run_and_close(struct bctx *c, const struct bisect_trial_rec *t, size_t nt, struct err *e)
{
    int rc;

    c->dir = xasprintf("%s/bisect/%lld", c->cfg->state_dir, c->id);
    if (fs_mkdirs(c->dir, e) < 0)
        return -1;
    rc = drive(c, t, nt, e);
    if (rc < 0) {
        struct err e2 = ERR_INIT;
        store_bisect_set_status(
            c->st, c->id,
            e->code == ERR_INTERRUPTED || proc_interrupted() ? "interrupted" : "error", NULL, &e2);
    }
    return rc;
}

/*
 * Refuses a test command that cannot run, before any trial (its exit 127 would read as "fail"
 * and end a bisection with a wrong answer): the first word must be a command sh finds, in PATH
 * or relative to the repository.
 */
static int check_test_cmd(const char *repo, const char *cmd, struct err *e)
{
    const char *argv[] = {
        "sh", "-c", "command -v -- \"$1\" >/dev/null", "pvlab-check", NULL, NULL
    };
    struct proc_spec spec = { 0 };
    char *word = NULL;
    size_t n;
    int rc = -1;

    for (;;) {
        cmd += strspn(cmd, " \t");
        n = strcspn(cmd, " \t\n;|&<>()$`'\"");
        /* NAME=value words set the environment; the command is the word after them */
        if (n && memchr(cmd, '=', n) &&
            strspn(cmd,
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                   "rstuvwxyz0123456789_") == (size_t)((const char *)memchr(cmd, '=', n) - cmd)) {
            cmd += n;
            continue;
        }
        break;
    }
    if (n == 0)
        return 0; /* a shell construct, not a plain command: the shell will say */
    word = xstrndup(cmd, n);
    argv[4] = word;
    spec.argv = argv;
    spec.cwd = repo;
    if (proc_run(&spec, NULL) < 0) {
        err_set(e, ERR_USAGE,
                "test command '%s' not found (neither in PATH nor relative to %s) "
                "or not executable; give its path, e.g. --test-cmd '%s%s'",
                word, repo, strchr(word, '/') ? "" : "./", word);
        goto out;
    }
    rc = 0;
out:
    free(word);
    return rc;
}

int bisect_start(const struct config *cfg, const char *config_path, struct store *st,
                 const struct bisect_request *rq, const struct bisect_events *ev, long long *id_r,
                 struct err *e)
{
    struct bctx c;
    struct bisect_info b = { 0 };
    char *abs = NULL, *goods = NULL, *params = NULL;
    int rc = -1;

    memset(&c, 0, sizeof(c));
    *id_r = 0;
    c.rq = *rq;
    c.cfg = cfg;
    c.config_path = config_path;
    c.st = st;
    c.ev = ev;
    if (!rq->test_cmd && !rq->axis) {
        err_set(e, ERR_USAGE,
                "say what a trial is: --test-cmd CMD, or --axis linux|xen (boot "
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
    if (rq->test_cmd && check_test_cmd(abs, rq->test_cmd, e) < 0)
        goto out;
    if (git_resolve(abs, rq->bad, &c.bad_sha, e) < 0)
        goto out;
    for (size_t i = 0; i < rq->good.n; i++) {
        char *sha;
        if (git_resolve(abs, rq->good.v[i], &sha, e) < 0)
            goto out;
        sv_push_owned(&c.good_sha, sha);
    }
    if (rq->build_opts) { /* checked like the spec each trial will build */
        char *spec = xasprintf("git:%s@%s?%s", abs, c.bad_sha, rq->build_opts);
        int r = -1;
        if (!rq->axis || rq->build_cmd)
            err_set(e, ERR_USAGE,
                    "--build-opts is for pvlab's builder: --axis linux|xen "
                    "without --build-cmd");
        else
            r = artifact_check_spec(strcmp(rq->axis, "xen") ? ARTIFACT_LINUX : ARTIFACT_XEN, spec,
                                    e);
        free(spec);
        if (r < 0)
            goto out;
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
    b.axis = rq->axis ? rq->axis : "test-cmd";
    b.find = rq->find_fix ? "fix" : "regression";
    b.good = goods;
    b.bad = c.bad_sha;
    b.params_json = params;
    if (store_bisect_begin(st, &b, &c.id, e) < 0)
        goto out;
    *id_r = c.id;
    bctx_status(&c, "bisection %lld: %zu candidate commits", c.id, c.n);
    rc = run_and_close(&c, NULL, 0, e);
out:
    free(goods);
    free(params);
    bctx_free(&c);
    free(abs);
    return rc;
}

int bisect_resume(const struct config *cfg, const char *config_path, struct store *st, long long id,
                  const struct bisect_events *ev, struct err *e)
{
    struct bctx c;
    struct bisect_rec b = { 0 };
    struct bisect_trial_rec *t = NULL;
    size_t nt = 0;
    int killed, rc = -1;

    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.config_path = config_path;
    c.st = st;
    c.ev = ev;
    /* claim first, atomically: a second resume at once is refused here, before any trial */
    if (store_bisect_claim(st, id, e) < 0)
        goto out;
    /* what a dead owner left running (a test script's children) must not run beside us */
    killed = store_bisect_slots_reap(st, id, e);
    if (killed < 0)
        goto out;
    if (killed)
        log_warn("bisect", "killed %d trial process group%s left by the previous owner", killed,
                 killed == 1 ? "" : "s");
    if (store_bisect_get(st, id, &b, &t, &nt, e) < 0)
        goto out;
    bisect_request_defaults(cfg, &c.rq);
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
    bctx_status(&c, "bisection %lld resumed after %zu recorded trials", id, nt);
    rc = run_and_close(&c, t, nt, e);
out:
    if (rc < 0 && c.id == 0 && e->code != ERR_BUSY && e->code != ERR_USAGE &&
        e->code != ERR_NOTFOUND) {
        struct err e2 = ERR_INIT;
        store_bisect_set_status(st, id, "error", NULL, &e2);
    }
    bisect_trial_recs_free(t, nt);
    bisect_rec_free(&b);
    bctx_free(&c);
    return rc;
}

int bisect_stop(struct store *st, long long id, struct err *e)
{
    struct bisect_rec b = { 0 };
    int state, rc = -1;

    if (store_bisect_get(st, id, &b, NULL, NULL, e) < 0)
        return -1;
    if (!strcmp(b.status, "done")) {
        err_set(e, ERR_USAGE, "bisection %lld is already done", id);
        goto out;
    }
    state = store_bisect_owner_state(st, id, e);
    if (state < 0)
        goto out;
    if (state == 2) {
        /* a pid recorded on another host names some unrelated process here */
        err_set(e, ERR_BUSY, "bisection %lld runs on host %s (pid %lld); stop it there", id,
                b.owner_host ? b.owner_host : "?", b.owner_pid);
        goto out;
    }
    if (state == 1) {
        /* the owner stops its trials on SIGTERM and records itself interrupted */
        if (kill((pid_t)b.owner_pid, SIGTERM) < 0 && errno != ESRCH) {
            err_sys(e, errno, "cannot signal pvlab process %lld", b.owner_pid);
            goto out;
        }
        for (int i = 0; i < 100 && store_bisect_owner_state(st, id, NULL) == 1; i++)
            usleep(100000);
    }
    rc = store_bisect_set_status(st, id, "stopped", NULL, e);
out:
    bisect_rec_free(&b);
    return rc;
}
