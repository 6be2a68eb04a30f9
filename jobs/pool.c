#include "jobs/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sv.h"
#include "util/xalloc.h"

#define MAX_SLOTS 64
#define RECORD_CAP (4u << 20) /* a trial child's records: progress lines and one result */

struct pool;

struct slot {
    struct pool *pool;
    int busy;
    enum pool_kind kind;
    struct proc p;
    int rfd;        /* POOL_TRIAL: read end of the child's record pipe (its fd 3), or -1 */
    struct buf out; /* POOL_TRIAL: the child's records */
    size_t scanned; /* bytes of out already split into records */
    char *result;   /* the last "result" record's JSON */
    char *log_path; /* POOL_COMMAND */
    int timeout_s;
    void *tag;
};

struct pool {
    const struct config *cfg;
    char *config_path;
    char *self_exe;
    int n;
    struct slot slots[MAX_SLOTS];
    struct pool_events ev;
    struct proc_loop *loop; /* every task's child and record pipe, waited on together */
    long long next_tick_ms; /* when ev.tick is due (monotonic ms) */
};

char *pool_exe_path(const char *link)
{
    size_t n = link ? strlen(link) : 0, d = strlen(" (deleted)");

    if (!n)
        return xstrdup("pvlab");
    /* rebuilt or upgraded while this process runs: its own image is still there to exec, and
     * its children speak its protocol */
    if (n > d && !strcmp(link + n - d, " (deleted)"))
        return xstrdup("/proc/self/exe");
    return xstrdup(link);
}

struct pool *pool_new(const struct config *cfg, const char *config_path, int slots,
                      const struct pool_events *ev)
{
    struct pool *p = xcalloc(1, sizeof(*p));
    char exe[PATH_MAX];
    ssize_t r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    p->cfg = cfg;
    p->config_path = config_path ? xstrdup(config_path) : NULL;
    p->self_exe = pool_exe_path(r > 0 ? (exe[r] = '\0', exe) : NULL);
    p->n = slots < 1 ? 1 : slots > MAX_SLOTS ? MAX_SLOTS : slots;
    for (int i = 0; i < MAX_SLOTS; i++) {
        p->slots[i].p = (struct proc)PROC_INIT;
        p->slots[i].rfd = -1;
        p->slots[i].pool = p;
    }
    p->loop = proc_loop_new();
    if (ev)
        p->ev = *ev;
    return p;
}

int pool_busy(const struct pool *p)
{
    int k = 0;
    for (int i = 0; i < p->n; i++)
        k += p->slots[i].busy;
    return k;
}

int pool_idle(const struct pool *p)
{
    return p->n - pool_busy(p);
}

enum verdict_kind pool_command_verdict(int exit_code, int *stop_r)
{
    *stop_r = 0;
    if (exit_code == 0)
        return VERDICT_PASS;
    if (exit_code == 125)
        return VERDICT_SKIP;
    if (exit_code > 0 && exit_code < 128)
        return VERDICT_FAIL;
    *stop_r = 1;
    return VERDICT_INFRA;
}

/* The argv and environment of a task's child. */
static void task_argv(const struct pool *p, const struct pool_task *t, struct sv *argv,
                      struct sv *env)
{
    if (t->kind == POOL_TRIAL) {
        sv_push(argv, p->self_exe);
        if (p->config_path) {
            sv_push(argv, "--config");
            sv_push(argv, p->config_path);
        }
        sv_push(argv, "trial");
        trial_job_argv(t->job, argv);
        sv_push(argv, "--result-fd");
        sv_push(argv, "3");
        /* the child must see the same cache and store as this process, wherever it runs */
        sv_pushf(env, "PVLAB_CACHE_DIR=%s", p->cfg->cache_dir);
        sv_pushf(env, "PVLAB_STATE_DIR=%s", p->cfg->state_dir);
        if (getenv("PVLAB_CONFIG"))
            sv_pushf(env, "PVLAB_CONFIG=%s", getenv("PVLAB_CONFIG"));
    } else {
        /* like git bisect run: the user's own command line, by sh; pvlab's values in "$@" */
        sv_push(argv, "sh");
        sv_push(argv, "-c");
        sv_push(argv, t->command);
        sv_push(argv, "pvlab-trial");
        sv_pushv(argv, t->args);
    }
    sv_pushv(env, t->env);
}

static void scan_records(struct pool *p, struct slot *s);

/* Reads what a trial child wrote on its record pipe; progress reaches the caller at once. */
static int on_records(struct proc_loop *l, int fd, short revents, void *ctx, struct err *e)
{
    struct slot *s = ctx;
    char chunk[16384];
    ssize_t r;
    int err;

    (void)revents;
    (void)e;

    while ((r = read(fd, chunk, sizeof(chunk))) > 0)
        buf_add(&s->out, chunk, (size_t)r);
    err = errno; /* before the progress callbacks, which may write */
    scan_records(s->pool, s);
    if (r == 0 || (r < 0 && err != EAGAIN && err != EINTR)) {
        proc_loop_remove_fd(l, fd); /* the child closed it: it has ended or is ending */
        close(fd);
        s->rfd = -1;
    }
    return 0;
}

int pool_start(struct pool *p, const struct pool_task *t, struct err *e)
{
    struct slot *s = NULL;
    struct sv argv = SV_INIT, env = SV_INIT;
    struct proc_spec spec = { 0 };
    int pipefd[2] = { -1, -1 };
    int rc = -1;

    for (int i = 0; i < p->n && !s; i++)
        if (!p->slots[i].busy)
            s = &p->slots[i];
    if (!s) {
        err_set(e, ERR_INTERNAL, "no free slot in the trial pool (a pvlab bug)");
        return -1;
    }
    if ((t->kind == POOL_TRIAL && !t->job) || (t->kind == POOL_COMMAND && !t->command)) {
        err_set(e, ERR_INTERNAL, "a pool task without a job or command (a pvlab bug)");
        return -1;
    }
    memset(s, 0, sizeof(*s));
    s->pool = p;
    s->p = (struct proc)PROC_INIT;
    s->rfd = -1;
    s->kind = t->kind;
    s->tag = t->tag;
    s->timeout_s = t->timeout_s;
    task_argv(p, t, &argv, &env);
    spec.argv = (const char *const *)sv_argv(&argv);
    spec.env = (const char *const *)sv_argv(&env);
    spec.cwd = t->cwd;
    spec.timeout_ms = t->timeout_s > 0 ? t->timeout_s * 1000 : 0;
    if (t->kind == POOL_TRIAL) {
        /* the records come on their own pipe, the child's fd 3: never mixed with output */
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
            err_sys(e, errno, "cannot create a pipe for a trial's results");
            goto out;
        }
        buf_init(&s->out, RECORD_CAP);
        spec.pass_fd = pipefd[1];
        spec.pass_fd_as = 3;
    } else {
        spec.inherit_env = 1; /* like git bisect run: the caller's environment */
        spec.log_path = t->log_path;
        s->log_path = t->log_path ? xstrdup(t->log_path) : NULL;
    }
    if (proc_start(&spec, &s->p, e) < 0)
        goto fail;
    if (pipefd[1] >= 0) {
        close(pipefd[1]);
        pipefd[1] = -1;
        s->rfd = pipefd[0];
        pipefd[0] = -1;
        fcntl(s->rfd, F_SETFL, O_NONBLOCK);
        if (proc_loop_add_fd(p->loop, s->rfd, POLLIN, on_records, s, e) < 0) {
            proc_kill(&s->p);
            goto fail;
        }
    }
    if (proc_loop_add(p->loop, &s->p, e) < 0) {
        proc_kill(&s->p);
        goto fail;
    }
    s->busy = 1;
    if (p->ev.started)
        p->ev.started(p->ev.ctx, s->tag, s->p.pid);
    rc = 0;
    goto out;
fail:
    if (s->rfd >= 0) {
        proc_loop_remove_fd(p->loop, s->rfd);
        close(s->rfd);
        s->rfd = -1;
    }
    proc_release(&s->p);
    buf_release(&s->out);
    free(s->log_path);
    s->log_path = NULL;
out:
    for (int i = 0; i < 2; i++)
        if (pipefd[i] >= 0)
            close(pipefd[i]);
    sv_clear(&argv);
    sv_clear(&env);
    return rc;
}

/* Splits new records off a trial child's output: progress goes to the caller at once. */
static void scan_records(struct pool *p, struct slot *s)
{
    for (;;) {
        char *start = s->out.data + s->scanned;
        char *nl = memchr(start, '\n', s->out.len - s->scanned);
        if (!nl)
            return;
        *nl = '\0';
        if (!strncmp(start, "progress ", 9)) {
            struct trial_progress tp;
            if (p->ev.progress && trial_progress_parse(start + 9, &tp) == 0)
                p->ev.progress(p->ev.ctx, s->tag, &tp);
        } else if (!strncmp(start, "result ", 7)) {
            free(s->result);
            s->result = xstrdup(start + 7);
        }
        *nl = '\n';
        s->scanned = (size_t)(nl + 1 - s->out.data);
    }
}

/* The last bytes of a file, for the reason of a command that stopped (its output went there). */
static char *file_tail(const char *path)
{
    struct buf b = BUF_INIT;
    char *t;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

    if (fd >= 0) {
        off_t size = lseek(fd, 0, SEEK_END);
        char chunk[4096];
        ssize_t r;
        lseek(fd, size > (off_t)sizeof(chunk) ? size - (off_t)sizeof(chunk) : 0, SEEK_SET);
        while ((r = read(fd, chunk, sizeof(chunk))) > 0)
            buf_add(&b, chunk, (size_t)r);
        close(fd);
    }
    t = str_tail_lines(b.data, b.len, 6, 1500);
    buf_release(&b);
    return t;
}

/* Turns an ended slot into a result. */
static void finish(struct pool *p, struct slot *s, struct pool_result *r)
{
    struct trial_outcome *o = &r->out;
    struct err pe = ERR_INIT;

    memset(r, 0, sizeof(*r));
    r->tag = s->tag;
    r->exit_code = proc_exit_code(&s->p);
    r->timed_out = s->p.end == PROC_TIMED_OUT;
    r->interrupted = s->p.end == PROC_INTERRUPTED;
    r->wall_ms = proc_now_ms() - s->p.start_ms;
    r->stderr_tail = proc_err_tail(&s->p, 6, 1500);
    if (s->kind == POOL_TRIAL) {
        if (s->rfd >= 0) /* the child is gone: what it wrote is all in the pipe */
            on_records(p->loop, s->rfd, POLLIN, s, NULL);
        scan_records(p, s);
        if (s->result && trial_outcome_parse(s->result, o, &pe) == 0)
            goto out;
        memset(o, 0, sizeof(*o));
        o->verdict = VERDICT_INFRA;
        o->boot_ms = -1;
        if (r->timed_out)
            o->reason = xasprintf("the trial timed out after %d s", s->timeout_s);
        else if (r->interrupted)
            o->reason = xstrdup("interrupted by the user");
        else {
            /* pvlab trial always reports; without a report it broke: stop, with its words */
            o->stop = 1;
            o->reason = xasprintf("pvlab trial exited %d without a result%s%s%s", r->exit_code,
                                  pe.msg[0] ? " (" : "", pe.msg, pe.msg[0] ? ")" : "");
            if (*r->stderr_tail) {
                char *with = xasprintf("%s: %s", o->reason, r->stderr_tail);
                free(o->reason);
                o->reason = with;
            }
        }
        goto out;
    }
    o->boot_ms = -1;
    o->log_path = s->log_path ? xstrdup(s->log_path) : NULL;
    if (r->timed_out) {
        o->verdict = VERDICT_INFRA;
        o->reason = xasprintf("timed out after %d s", s->timeout_s);
    } else if (r->interrupted) {
        o->verdict = VERDICT_INFRA;
        o->reason = xstrdup("interrupted by the user");
    } else {
        o->verdict = pool_command_verdict(r->exit_code, &o->stop);
        if (o->stop) {
            char *tail = s->log_path ? file_tail(s->log_path) : xstrdup(r->stderr_tail);
            o->reason =
                xasprintf("exit %d%s%s", r->exit_code, *tail ? "; its last output:\n" : "", tail);
            free(tail);
        } else {
            o->reason = xasprintf("exit %d", r->exit_code);
        }
    }
out:
    if (s->rfd >= 0) {
        proc_loop_remove_fd(p->loop, s->rfd);
        close(s->rfd);
        s->rfd = -1;
    }
    proc_release(&s->p);
    s->p = (struct proc)PROC_INIT;
    buf_release(&s->out);
    free(s->result);
    free(s->log_path);
    s->result = s->log_path = NULL;
    s->busy = 0;
}

/* The slot whose child is p. */
static struct slot *slot_of(struct pool *pl, struct proc *p)
{
    for (int i = 0; i < pl->n; i++)
        if (&pl->slots[i].p == p)
            return &pl->slots[i];
    return NULL;
}

int pool_wait(struct pool *p, struct pool_result *r, struct err *e)
{
    for (;;) {
        struct proc *ended = proc_loop_ended(p->loop);
        if (ended) {
            finish(p, slot_of(p, ended), r);
            return 1;
        }
        if (!pool_busy(p))
            return 0;
        /* one poll for every child, its record pipe and the interrupt pipe */
        if (p->ev.tick && p->ev.tick_ms > 0) {
            long long now = proc_now_ms();
            if (!p->next_tick_ms)
                p->next_tick_ms = now + p->ev.tick_ms;
            if (now >= p->next_tick_ms) {
                p->ev.tick(p->ev.ctx);
                p->next_tick_ms = now + p->ev.tick_ms;
            }
            if (proc_loop_run(p->loop, (int)(p->next_tick_ms - now), e) < 0)
                return -1;
        } else if (proc_loop_run(p->loop, -1, e) < 0) {
            return -1;
        }
    }
}

void pool_stop(struct pool *p)
{
    for (int i = 0; i < p->n; i++) {
        struct slot *s = &p->slots[i];
        if (!s->busy)
            continue;
        if (s->rfd >= 0) {
            proc_loop_remove_fd(p->loop, s->rfd);
            close(s->rfd);
            s->rfd = -1;
        }
        proc_kill(&s->p);
        proc_release(&s->p);
        s->p = (struct proc)PROC_INIT;
        buf_release(&s->out);
        free(s->result);
        free(s->log_path);
        s->result = s->log_path = NULL;
        s->busy = 0;
    }
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    pool_stop(p);
    proc_loop_free(p->loop);
    free(p->config_path);
    free(p->self_exe);
    free(p);
}

void pool_result_free(struct pool_result *r)
{
    trial_outcome_free(&r->out);
    free(r->stderr_tail);
    memset(r, 0, sizeof(*r));
}
