/*
 * util/proc_loop: waiting for children, tmux-style. One poll(2) covers every child's pidfd and
 * pipes, the extra descriptors of the loop's owner, and the interrupt pipe; a child that ended
 * is reaped with waitpid(pid), one past its deadline gets SIGTERM to its group and SIGKILL
 * after its grace period. proc_poll / proc_wait / proc_kill run the same code on a private loop
 * holding one proc.
 */
#include "util/proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/proc_int.h"
#include "util/xalloc.h"

/* Without pidfds (ENOSYS) nothing wakes poll when a child ends: check this often. */
#define NOPIDFD_SLICE_MS 50
/* Without the interrupt pipe, a signal between the flag check and poll waits this long. */
#define NOINTR_SLICE_MS 250

struct loop_fd {
    int fd;
    short events;
    proc_loop_fd_fn *fn;
    void *ctx;
    unsigned long id; /* tells a descriptor re-added during a round from the one polled */
};

/* What a pollfd of a round stands for. */
struct poll_ref {
    enum { REF_INTR, REF_PIDFD, REF_OUT, REF_ERR, REF_FD } kind;
    struct proc *p;   /* REF_PIDFD/OUT/ERR */
    unsigned long id; /* REF_FD */
};

struct proc_loop {
    struct proc **procs; /* running (not yet reaped) */
    size_t nprocs, procs_alloc;
    struct proc **ended; /* reaped, waiting for proc_loop_ended, oldest first */
    size_t nended, ended_alloc;
    struct loop_fd *fds;
    size_t nfds, fds_alloc;
    unsigned long next_id;
    struct pollfd *pfd; /* one round's poll set, reused */
    struct poll_ref *ref;
    size_t pfd_alloc;
};

/* Grows an array of elem-sized items to hold at least n. */
static void *grow(void *v, size_t *alloc, size_t n, size_t elem)
{
    if (n <= *alloc)
        return v;
    *alloc = n < 8 ? 8 : n * 2;
    return xrealloc(v, *alloc * elem);
}

struct proc_loop *proc_loop_new(void)
{
    return xcalloc(1, sizeof(struct proc_loop));
}

void proc_loop_free(struct proc_loop *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nprocs; i++)
        l->procs[i]->loop = NULL;
    for (size_t i = 0; i < l->nended; i++)
        l->ended[i]->loop = NULL;
    free(l->procs);
    free(l->ended);
    free(l->fds);
    free(l->pfd);
    free(l->ref);
    free(l);
}

int proc_loop_add(struct proc_loop *l, struct proc *p, struct err *e)
{
    if (p->pid <= 0) {
        err_set(e, ERR_INTERNAL, "cannot wait for %s: it was not started",
                p->name ? p->name : "a process");
        return -1;
    }
    if (p->loop) {
        err_set(e, ERR_INTERNAL, "%s (pid %d) is already in a loop", p->name, (int)p->pid);
        return -1;
    }
    p->loop = l;
    if (p->end != PROC_RUNNING) {
        l->ended = grow(l->ended, &l->ended_alloc, l->nended + 1, sizeof(*l->ended));
        l->ended[l->nended++] = p;
        return 0;
    }
    l->procs = grow(l->procs, &l->procs_alloc, l->nprocs + 1, sizeof(*l->procs));
    l->procs[l->nprocs++] = p;
    return 0;
}

/* Removes p from v[0..*n), keeping the order; returns whether it was there. */
static int take_out(struct proc **v, size_t *n, const struct proc *p)
{
    for (size_t i = 0; i < *n; i++)
        if (v[i] == p) {
            memmove(v + i, v + i + 1, (*n - i - 1) * sizeof(*v));
            (*n)--;
            return 1;
        }
    return 0;
}

void proc_loop_remove(struct proc_loop *l, struct proc *p)
{
    if (p->loop != l)
        return;
    if (!take_out(l->procs, &l->nprocs, p))
        take_out(l->ended, &l->nended, p);
    p->loop = NULL;
}

int proc_loop_add_fd(struct proc_loop *l, int fd, short events, proc_loop_fd_fn *fn, void *ctx,
                     struct err *e)
{
    for (size_t i = 0; i < l->nfds; i++)
        if (l->fds[i].fd == fd) {
            err_set(e, ERR_INTERNAL, "descriptor %d is already watched by this loop", fd);
            return -1;
        }
    l->fds = grow(l->fds, &l->fds_alloc, l->nfds + 1, sizeof(*l->fds));
    l->fds[l->nfds++] = (struct loop_fd){ fd, events, fn, ctx, ++l->next_id };
    return 0;
}

void proc_loop_remove_fd(struct proc_loop *l, int fd)
{
    for (size_t i = 0; i < l->nfds; i++)
        if (l->fds[i].fd == fd) {
            memmove(l->fds + i, l->fds + i + 1, (l->nfds - i - 1) * sizeof(*l->fds));
            l->nfds--;
            return;
        }
}

struct proc *proc_loop_ended(struct proc_loop *l)
{
    struct proc *p;

    if (l->nended == 0)
        return NULL;
    p = l->ended[0];
    take_out(l->ended, &l->nended, p);
    p->loop = NULL;
    return p;
}

size_t proc_loop_running(const struct proc_loop *l)
{
    return l->nprocs;
}

/* Drains whatever is readable on one of p's pipes: stdout into p->out, stderr into the ring. */
static void drain(struct proc *p, int *fd, int is_err)
{
    char chunk[16384];

    for (;;) {
        ssize_t r = read(*fd, chunk, sizeof(chunk));
        if (r > 0) {
            if (is_err)
                proc_err_ring_add(p, chunk, (size_t)r);
            else if (p->out)
                buf_add(p->out, chunk, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            close(*fd);
            *fd = -1;
        }
        return;
    }
}

/* Records how a reaped child ended: why we killed it, else what its wait status says. */
static void set_ended(struct proc *p, int status)
{
    p->status = status;
    p->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    p->sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    if (p->killing == PROC_TIMED_OUT || p->killing == PROC_INTERRUPTED)
        p->end = p->killing;
    else
        p->end = p->sig ? PROC_SIGNALLED : PROC_EXITED;
}

/*
 * Reaps p if it has ended: 1 reaped, 0 still running, -1 with e set. ECHILD is an error, never
 * "still running": the child was reaped elsewhere (SIGCHLD ignored, or another waitpid), so
 * waiting longer would wait forever.
 */
static int reap(struct proc *p, struct err *e)
{
    int status;
    pid_t r;

    do
        r = waitpid(p->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r < 0) {
        if (errno == ECHILD)
            err_set(e, ERR_INTERNAL,
                    "cannot wait for %s (pid %d): it was reaped elsewhere "
                    "(SIGCHLD ignored, or another waitpid)",
                    p->name, (int)p->pid);
        else
            err_sys(e, errno, "cannot wait for %s (pid %d)", p->name, (int)p->pid);
        return -1;
    }
    set_ended(p, status);
    /* the rest of its output (a grandchild may still hold the pipes: no waiting for EOF) */
    if (p->out_fd >= 0)
        drain(p, &p->out_fd, 0);
    if (p->err_fd >= 0)
        drain(p, &p->err_fd, 1);
    if (p->kill_ms) /* we stopped it: stragglers of its group (a grandchild) go too */
        kill(-p->pid, SIGKILL);
    if (p->pidfd >= 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
    return 1;
}

/* SIGTERM to p's group, SIGKILL due after its grace period; why: what p->end will say. */
static void stop(struct proc *p, enum proc_end why, long long now)
{
    if (p->kill_ms) {
        if (p->killing == PROC_RUNNING)
            p->killing = why; /* a proc_kill overtaken by a timeout or an interrupt */
        return;
    }
    p->killing = why;
    p->kill_ms = now + p->grace_ms;
    kill(-p->pid, SIGTERM);
}

/* Sends what is due at `now`: interrupt and timeout SIGTERMs, SIGKILLs after the grace. */
static void enforce(struct proc *p, long long now)
{
    if (p->end != PROC_RUNNING)
        return;
    if (proc_interrupted())
        stop(p, PROC_INTERRUPTED, now);
    else if (p->deadline_ms && now >= p->deadline_ms)
        stop(p, PROC_TIMED_OUT, now);
    if (p->kill_ms > 0 && now >= p->kill_ms) {
        kill(-p->pid, SIGKILL);
        p->kill_ms = -1;
    }
}

/* When enforce must next run for p (0: nothing due). */
static long long next_due(const struct proc *p)
{
    if (p->kill_ms > 0)
        return p->kill_ms;
    if (p->kill_ms == 0 && p->deadline_ms)
        return p->deadline_ms;
    return 0;
}

/* How long one round may sleep in poll: the caller's timeout, cut short by what is due. */
static int round_wait(const struct proc_loop *l, int timeout_ms, int intr_fd, long long now)
{
    long long wait = timeout_ms < 0 ? -1 : timeout_ms;

    for (size_t i = 0; i < l->nprocs; i++) {
        const struct proc *p = l->procs[i];
        long long due = next_due(p);
        long long cap = -1;

        if (proc_interrupted() && p->kill_ms == 0)
            cap = 0; /* not stopped yet: enforce right after this poll */
        else if (due)
            cap = due > now ? due - now : 0;
        if (p->pidfd < 0 && (cap < 0 || cap > NOPIDFD_SLICE_MS))
            cap = NOPIDFD_SLICE_MS;
        if (cap >= 0 && (wait < 0 || cap < wait))
            wait = cap;
    }
    if (intr_fd < 0 && (wait < 0 || wait > NOINTR_SLICE_MS))
        wait = NOINTR_SLICE_MS;
    return wait > 1000000000 ? 1000000000 : (int)wait;
}

/* Appends one pollfd (and what it stands for) to the round's set. */
static void add_pfd(struct proc_loop *l, size_t *n, int fd, short events, struct poll_ref ref)
{
    if (*n + 1 > l->pfd_alloc) {
        size_t alloc = l->pfd_alloc;
        l->pfd = grow(l->pfd, &alloc, *n + 1, sizeof(*l->pfd));
        l->ref = xrealloc(l->ref, alloc * sizeof(*l->ref));
        l->pfd_alloc = alloc;
    }
    l->pfd[*n] = (struct pollfd){ .fd = fd, .events = events };
    l->ref[*n] = ref;
    (*n)++;
}

/* Builds the round's poll set: interrupt pipe, each proc's pidfd and pipes, extra fds. */
static size_t build_set(struct proc_loop *l, int intr_fd, int with_fds)
{
    size_t n = 0;

    if (intr_fd >= 0)
        add_pfd(l, &n, intr_fd, POLLIN, (struct poll_ref){ REF_INTR, NULL, 0 });
    for (size_t i = 0; i < l->nprocs; i++) {
        struct proc *p = l->procs[i];
        if (p->pidfd >= 0)
            add_pfd(l, &n, p->pidfd, POLLIN, (struct poll_ref){ REF_PIDFD, p, 0 });
        if (p->out_fd >= 0)
            add_pfd(l, &n, p->out_fd, POLLIN, (struct poll_ref){ REF_OUT, p, 0 });
        if (p->err_fd >= 0)
            add_pfd(l, &n, p->err_fd, POLLIN, (struct poll_ref){ REF_ERR, p, 0 });
    }
    for (size_t i = 0; with_fds && i < l->nfds; i++)
        add_pfd(l, &n, l->fds[i].fd, l->fds[i].events,
                (struct poll_ref){ REF_FD, NULL, l->fds[i].id });
    return n;
}

/* Drains p's ready pipes; reaps it when its pidfd says it ended (or always without one). */
static int service_procs(struct proc_loop *l, size_t n, int *ended_r, struct err *e)
{
    for (size_t i = 0; i < n; i++) {
        struct proc *p = l->ref[i].p;
        if (!l->pfd[i].revents)
            continue;
        if (l->ref[i].kind == REF_OUT && p->out_fd >= 0)
            drain(p, &p->out_fd, 0);
        else if (l->ref[i].kind == REF_ERR && p->err_fd >= 0)
            drain(p, &p->err_fd, 1);
        else if (l->ref[i].kind == REF_INTR)
            proc_intr_drain();
    }
    for (size_t i = 0; i < l->nprocs;) {
        struct proc *p = l->procs[i];
        int ready = p->pidfd < 0, r;

        for (size_t k = 0; k < n && !ready; k++)
            ready = l->ref[k].kind == REF_PIDFD && l->ref[k].p == p && l->pfd[k].revents;
        if (!ready || (r = reap(p, e)) == 0) {
            i++;
            continue;
        }
        if (r < 0)
            return -1;
        take_out(l->procs, &l->nprocs, p);
        l->ended = grow(l->ended, &l->ended_alloc, l->nended + 1, sizeof(*l->ended));
        l->ended[l->nended++] = p;
        (*ended_r)++;
    }
    return 0;
}

/* Calls the callbacks of ready extra descriptors still watched (by id: callbacks edit the set). */
static int service_fds(struct proc_loop *l, size_t n, int *calls_r, struct err *e)
{
    for (size_t i = 0; i < n; i++) {
        if (l->ref[i].kind != REF_FD || !l->pfd[i].revents)
            continue;
        for (size_t k = 0; k < l->nfds; k++) {
            struct loop_fd f = l->fds[k];
            if (f.id != l->ref[i].id)
                continue;
            (*calls_r)++;
            if (f.fn(l, f.fd, l->pfd[i].revents, f.ctx, e) < 0)
                return -1;
            break;
        }
    }
    return 0;
}

/* One round of the loop; with_fds = 0 leaves the extra descriptors alone. */
static int loop_round(struct proc_loop *l, int timeout_ms, int with_fds, struct err *e)
{
    int intr_fd = proc_intr_fd();
    long long now = proc_now_ms();
    int wait = round_wait(l, timeout_ms, intr_fd, now);
    size_t n = build_set(l, intr_fd, with_fds);
    int ended = 0, calls = 0, r;

    if (wait < 0 && l->nprocs == 0 && (!with_fds || l->nfds == 0))
        return 0; /* nothing to wait for: only an interrupt could end the wait */
    r = poll(l->pfd, (nfds_t)n, wait);
    if (r < 0 && errno != EINTR) {
        err_sys(e, errno, "cannot wait for child processes");
        return -1;
    }
    if (r <= 0) /* a timeout, or a signal (proc_interrupt is handled below) */
        for (size_t i = 0; i < n; i++)
            l->pfd[i].revents = 0;
    if (service_procs(l, n, &ended, e) < 0)
        return -1;
    if (with_fds && service_fds(l, n, &calls, e) < 0)
        return -1;
    now = proc_now_ms();
    for (size_t i = 0; i < l->nprocs; i++)
        enforce(l->procs[i], now);
    return ended + calls;
}

int proc_loop_run(struct proc_loop *l, int timeout_ms, struct err *e)
{
    return loop_round(l, timeout_ms, 1, e);
}

void proc_loop_kill_all(struct proc_loop *l)
{
    long long now = proc_now_ms();

    for (size_t i = 0; i < l->nprocs; i++)
        stop(l->procs[i], PROC_RUNNING, now);
    while (l->nprocs > 0) {
        struct err e = ERR_INIT;
        if (loop_round(l, -1, 0, &e) < 0) {
            /* cannot wait (ECHILD...): kill the rest and let go of them */
            for (size_t i = 0; i < l->nprocs; i++) {
                kill(-l->procs[i]->pid, SIGKILL);
                l->procs[i]->loop = NULL;
            }
            l->nprocs = 0;
        }
    }
}

/* Waits for p alone, up to wait_ms (-1: until it ends): 1 ended, 0 running, -1 error. */
static int wait_alone(struct proc *p, int wait_ms, struct err *e)
{
    struct proc_loop *l = NULL;
    long long until = proc_now_ms() + (wait_ms > 0 ? wait_ms : 0);
    int rc = -1;

    if (p->end != PROC_RUNNING)
        return 1;
    if (p->pid <= 0) {
        err_set(e, ERR_INTERNAL, "no process to wait for (%s was not started)",
                p->name ? p->name : "it");
        return -1;
    }
    if (p->loop) {
        err_set(e, ERR_INTERNAL, "%s (pid %d) is waited for by its proc_loop, not alone", p->name,
                (int)p->pid);
        return -1;
    }
    l = proc_loop_new();
    proc_loop_add(l, p, NULL);
    for (;;) {
        long long left = until - proc_now_ms();
        if (loop_round(l, wait_ms < 0 ? -1 : left > 0 ? (int)left : 0, 0, e) < 0)
            goto out;
        if (p->end != PROC_RUNNING) {
            rc = 1;
            goto out;
        }
        if (wait_ms >= 0 && proc_now_ms() >= until) {
            rc = 0;
            goto out;
        }
    }
out:
    proc_loop_free(l);
    return rc;
}

int proc_poll(struct proc *p, int wait_ms, struct err *e)
{
    return wait_alone(p, wait_ms < 0 ? 0 : wait_ms, e);
}

int proc_wait(struct proc *p, struct err *e)
{
    return wait_alone(p, -1, e) < 0 ? -1 : 0;
}

void proc_kill(struct proc *p)
{
    if (p->pid <= 0 || p->end != PROC_RUNNING)
        return;
    if (p->loop)
        proc_loop_remove(p->loop, p);
    stop(p, PROC_RUNNING, proc_now_ms());
    if (wait_alone(p, -1, NULL) < 0)
        kill(-p->pid, SIGKILL); /* cannot wait (ECHILD...): at least nothing is left running */
}
