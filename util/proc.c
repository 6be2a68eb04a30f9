/*
 * util/proc: starting a child (environment, descriptors, exec reported back) and what is known
 * once it has ended. Waiting for children is util/proc_loop.c.
 */
#include "util/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/proc_int.h"
#include "util/proc_priv.h"
#include "util/sv.h"
#include "util/xalloc.h"

static volatile sig_atomic_t interrupt_requested;
/* the pipe proc_interrupt() writes to, so a loop blocked in poll(2) wakes up */
static volatile sig_atomic_t intr_rfd = -1, intr_wfd = -1;

void proc_interrupt(void)
{
    int saved = errno;

    interrupt_requested = 1;
    if (intr_wfd >= 0)
        (void)!write(intr_wfd, "!", 1);
    errno = saved;
}

int proc_interrupted(void)
{
    return interrupt_requested;
}

void proc_interrupt_reset(void)
{
    interrupt_requested = 0;
    proc_intr_drain();
}

/* Makes the interrupt pipe (once). Returns 0 or -1 with e set. */
static int intr_pipe_make(struct err *e)
{
    int fds[2];

    if (intr_rfd >= 0)
        return 0;
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        err_sys(e, errno, "cannot create the interrupt pipe");
        return -1;
    }
    intr_rfd = fds[0];
    intr_wfd = fds[1];
    return 0;
}

int proc_intr_fd(void)
{
    intr_pipe_make(NULL);
    return intr_rfd;
}

void proc_intr_drain(void)
{
    char junk[64];

    if (intr_rfd < 0)
        return;
    while (read(intr_rfd, junk, sizeof(junk)) > 0)
        ;
}

static void on_signal(int sig)
{
    (void)sig;
    proc_interrupt();
}

/*
 * Gives SIGCHLD its default disposition. Ignored (inherited as SIG_IGN across exec) or with
 * SA_NOCLDWAIT, the kernel reaps children itself and waitpid fails with ECHILD.
 */
static void sigchld_default(void)
{
    struct sigaction sa;

    if (sigaction(SIGCHLD, NULL, &sa) < 0)
        return;
    if (sa.sa_handler != SIG_IGN && !(sa.sa_flags & SA_NOCLDWAIT))
        return;
    if (sa.sa_handler == SIG_IGN)
        sa.sa_handler = SIG_DFL;
    sa.sa_flags &= ~SA_NOCLDWAIT;
    sigaction(SIGCHLD, &sa, NULL);
}

int proc_init(struct err *e)
{
    sigchld_default();
    return intr_pipe_make(e);
}

void proc_install_signal_handlers(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

long long proc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether an extra NAME=value of the spec redefines the NAME of entry. */
static int env_redefined(const char *entry, const char *const *extra)
{
    size_t n = strcspn(entry, "=");

    for (size_t i = 0; extra && extra[i]; i++)
        if (!strncmp(extra[i], entry, n) && extra[i][n] == '=')
            return 1;
    return 0;
}

/*
 * Builds the child's environment: the caller's (inherit_env: a user's test command must see
 * it, as under git bisect run) or a fixed minimal base, then the spec's extras, which win.
 */
static void build_env(struct sv *env, const struct proc_spec *spec)
{
    const char *home = getenv("HOME");
    const char *path = getenv("PATH");
    struct sv base = SV_INIT;

    if (spec->inherit_env) {
        sv_pushv(&base, (const char *const *)environ);
    } else {
        sv_pushf(&base, "PATH=%s",
                 path && *path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
        sv_push(&base, "LC_ALL=C");
        sv_pushf(&base, "HOME=%s", home ? home : "/");
    }
    for (size_t i = 0; i < base.n; i++)
        if (!env_redefined(base.v[i], spec->env))
            sv_push(env, base.v[i]);
    sv_pushv(env, spec->env);
    sv_clear(&base);
}

/* What the child needs, all prepared before fork: the child only makes system calls. */
struct child_args {
    const char *exe;
    char *const *argv;
    char *const *envp;
    const char *cwd;
    int out_w, err_w, log_fd; /* -1 when unused */
    int report_fd;            /* close-on-exec pipe: the errno of a failed exec */
    int pass_fd, pass_as;     /* pass_fd becomes pass_as (>= 3) in the child; pass_as 0: none */
    int in_fd;                /* > 0: the child's stdin; else /dev/null */
    pid_t parent;
    long maxfd; /* for the close_range fallback */
};

/* Moves fd to a number >= min (close-on-exec) unless it already is; -1 on failure. */
static int fd_at_least(int fd, int min)
{
    return fd < 0 || fd >= min ? fd : fcntl(fd, F_DUPFD_CLOEXEC, min);
}

/*
 * Child side of fork: only async-signal-safe calls until exec. Any failure is reported as an
 * errno over the report pipe, so it becomes proc_start's error.
 */
static void child_exec(const struct child_args *a)
{
    static const struct sigaction dfl = { .sa_handler = SIG_DFL };
    int min = a->pass_as >= 3 ? a->pass_as + 1 : 3;
    int report = a->report_fd, devnull, in, out, err, pass = -1, e;
    sigset_t none;

    setpgid(0, 0);
    /* a pvlab killed with -9 must not leave a QEMU running on its own */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != a->parent)
        _exit(127);
    /* exec resets caught signals but keeps ignored ones and the mask: all to default, then
     * unblocked (the parent blocked them around fork, so no handler of ours runs here) */
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* every source above 0/1/2 and pass_as first, so no dup2 below overwrites another's source */
    report = fd_at_least(report, min);
    if (report < 0)
        _exit(127);
    devnull = fd_at_least(open("/dev/null", O_RDWR | O_CLOEXEC), min);
    in = a->in_fd > 0 ? fd_at_least(a->in_fd, min) : devnull;
    out = fd_at_least(a->out_w >= 0 ? a->out_w : a->log_fd >= 0 ? a->log_fd : devnull, min);
    err = fd_at_least(a->log_fd >= 0 ? a->log_fd : a->err_w >= 0 ? a->err_w : devnull, min);
    if (a->pass_as >= 3 && (pass = fd_at_least(a->pass_fd, min)) < 0)
        goto fail;
    if (devnull < 0 || in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
        dup2(err, 2) < 0)
        goto fail;
    /* nothing of ours beyond 0/1/2 reaches the program; the report pipe lives until exec */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        for (long fd = 3; fd < a->maxfd; fd++)
            fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    if (pass >= 0 && dup2(pass, a->pass_as) < 0) /* dup2 clears close-on-exec on pass_as */
        goto fail;
    if (a->cwd && chdir(a->cwd) < 0)
        goto fail;
    execve(a->exe, a->argv, a->envp);
fail:
    e = errno;
    (void)!write(report, &e, sizeof(e));
    _exit(127);
}

/*
 * A pidfd for pid: readable once the child has ended, so one poll(2) waits for children and
 * pipes together. Returns 0 (*fd_r = -1 when the kernel has no pidfd_open: the loop then
 * polls waitpid), or -1 with e set.
 */
static int pidfd_for(pid_t pid, const char *name, int *fd_r, struct err *e)
{
    long r = syscall(SYS_pidfd_open, pid, 0);

    *fd_r = -1;
    if (r >= 0) {
        *fd_r = (int)r; /* pidfds are close-on-exec */
        return 0;
    }
    if (errno == ENOSYS)
        return 0;
    err_sys(e, errno, "cannot watch %s (pid %d)", name, (int)pid);
    return -1;
}

/*
 * Forks the child described by ca and returns its pid once it has exec'd, or -1 with e set (a
 * child that failed to exec is reaped). Closes *report_w, the child's end of the report pipe.
 */
static pid_t spawn(const struct child_args *ca, int report_r, int *report_w, const char *name,
                   struct err *e)
{
    sigset_t all, mask;
    int child_errno = 0, fork_errno;
    ssize_t r;
    pid_t pid;

    /* signals wait until the child has reset its handlers (git's run-command does the same) */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &mask);
    pid = fork();
    if (pid == 0)
        child_exec(ca);
    fork_errno = errno;
    sigprocmask(SIG_SETMASK, &mask, NULL);
    close(*report_w);
    *report_w = -1;
    if (pid < 0) {
        err_sys(e, fork_errno, "cannot fork to run %s", name);
        return -1;
    }
    setpgid(pid, pid); /* also in the parent, so a kill right after fork reaches the group */
    do
        r = read(report_r, &child_errno, sizeof(child_errno));
    while (r < 0 && errno == EINTR);
    if (r == sizeof(child_errno)) {
        err_set(e, ERR_TOOL, "cannot run %s (%s): %s", name, ca->exe, strerror(child_errno));
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return -1;
    }
    return pid;
}

/* Takes a pipe's read end for p, non-blocking; leaves -1 behind so out: skips it. */
static int take_read_end(int *fd)
{
    int r = *fd;

    *fd = -1;
    if (r >= 0)
        fcntl(r, F_SETFL, O_NONBLOCK);
    return r;
}

int proc_start(const struct proc_spec *spec, struct proc *p, struct err *e)
{
    struct sv env = SV_INIT;
    struct sv argv = SV_INIT;
    char *exe = NULL;
    int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, report[2] = { -1, -1 };
    int log_fd = -1;
    struct child_args ca;
    pid_t pid = -1;
    int rc = -1;

    *p = (struct proc)PROC_INIT;
    p->name = xstrdup(spec->argv[0]);
    sigchld_default(); /* defensively: proc_init may not have run (a library user, a test) */
    exe = fs_which(spec->argv[0]);
    if (!exe) {
        err_set(e, ERR_TOOL,
                "'%s' not found in PATH (install it, e.g. with scripts/install-deps.sh)",
                spec->argv[0]);
        goto out;
    }
    if (spec->pass_fd_as && (spec->pass_fd_as < 3 || fcntl(spec->pass_fd, F_GETFD) < 0)) {
        err_set(e, ERR_INTERNAL,
                "cannot pass descriptor %d to %s as %d (not open, or not "
                "above 0/1/2)",
                spec->pass_fd, spec->argv[0], spec->pass_fd_as);
        goto out;
    }
    build_env(&env, spec);
    sv_pushv(&argv, spec->argv);
    if (spec->log_path) {
        log_fd = open(spec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
            err_sys(e, errno, "cannot open log %s", spec->log_path);
            goto out;
        }
    }
    if ((spec->out && pipe2(out_pipe, O_CLOEXEC) < 0) ||
        (!spec->log_path && pipe2(err_pipe, O_CLOEXEC) < 0) || pipe2(report, O_CLOEXEC) < 0) {
        err_sys(e, errno, "cannot create a pipe to run %s", spec->argv[0]);
        goto out;
    }
    ca = (struct child_args){ .exe = exe,
                              .argv = sv_argv(&argv),
                              .envp = sv_argv(&env),
                              .cwd = spec->cwd,
                              .out_w = out_pipe[1],
                              .err_w = err_pipe[1],
                              .log_fd = log_fd,
                              .report_fd = report[1],
                              .pass_fd = spec->pass_fd,
                              .pass_as = spec->pass_fd_as,
                              .in_fd = spec->stdin_fd,
                              .parent = getpid(),
                              .maxfd = sysconf(_SC_OPEN_MAX) };
    if (ca.maxfd < 0 || ca.maxfd > 65536)
        ca.maxfd = 65536;
    pid = spawn(&ca, report[0], &report[1], spec->argv[0], e);
    if (pid < 0)
        goto out;
    if (pidfd_for(pid, spec->argv[0], &p->pidfd, e) < 0) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        goto out;
    }
    p->pid = pid;
    p->start_ms = proc_now_ms();
    p->deadline_ms = spec->timeout_ms > 0 ? p->start_ms + spec->timeout_ms : 0;
    p->grace_ms = spec->grace_ms > 0 ? spec->grace_ms : 3000;
    p->out = spec->out;
    p->out_fd = take_read_end(&out_pipe[0]);
    p->err_fd = take_read_end(&err_pipe[0]);
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (err_pipe[i] >= 0)
            close(err_pipe[i]);
        if (report[i] >= 0)
            close(report[i]);
    }
    if (log_fd >= 0)
        close(log_fd);
    if (rc < 0)
        proc_release(p);
    sv_clear(&env);
    sv_clear(&argv);
    free(exe);
    return rc;
}

void proc_err_ring_add(struct proc *p, const char *data, size_t n)
{
    if (!p->err_ring)
        p->err_ring = xmalloc(PROC_ERR_TAIL);
    if (n >= PROC_ERR_TAIL) {
        memcpy(p->err_ring, data + n - PROC_ERR_TAIL, PROC_ERR_TAIL);
        p->err_head = 0;
        p->err_len = PROC_ERR_TAIL;
        return;
    }
    while (n > 0) {
        size_t k = PROC_ERR_TAIL - p->err_head;
        if (k > n)
            k = n;
        memcpy(p->err_ring + p->err_head, data, k);
        p->err_head = (p->err_head + k) % PROC_ERR_TAIL;
        p->err_len = p->err_len + k > PROC_ERR_TAIL ? PROC_ERR_TAIL : p->err_len + k;
        data += k;
        n -= k;
    }
}

char *proc_err_tail(const struct proc *p, int lines, size_t max)
{
    char flat[PROC_ERR_TAIL];
    size_t first = (p->err_head + PROC_ERR_TAIL - p->err_len) % PROC_ERR_TAIL;
    size_t k = PROC_ERR_TAIL - first;

    if (!p->err_ring || p->err_len == 0)
        return xstrdup("");
    if (k > p->err_len)
        k = p->err_len;
    memcpy(flat, p->err_ring + first, k);
    memcpy(flat + k, p->err_ring, p->err_len - k);
    return str_tail_lines(flat, p->err_len, lines, max);
}

void proc_release(struct proc *p)
{
    if (p->loop)
        proc_loop_remove(p->loop, p);
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    if (p->pidfd >= 0)
        close(p->pidfd);
    free(p->err_ring);
    free(p->name);
    *p = (struct proc)PROC_INIT;
}

int proc_exit_code(const struct proc *p)
{
    if (p->end == PROC_RUNNING)
        return -1;
    if (p->code >= 0)
        return p->code;
    if (p->sig > 0)
        return 128 + p->sig;
    return -1;
}

const char *proc_end_name(enum proc_end end)
{
    switch (end) {
    case PROC_RUNNING: return "running";
    case PROC_EXITED: return "exited";
    case PROC_SIGNALLED: return "signalled";
    case PROC_TIMED_OUT: return "timed-out";
    case PROC_INTERRUPTED: return "interrupted";
    }
    return "?";
}

char *proc_describe(const struct proc *p)
{
    const char *name = p->name ? p->name : "the process";

    switch (p->end) {
    case PROC_RUNNING:
        if (p->pid <= 0)
            return xasprintf("%s was not started", name);
        return xasprintf("%s is still running", name);
    case PROC_INTERRUPTED: return xasprintf("%s was stopped because pvlab was interrupted", name);
    case PROC_TIMED_OUT:
        return xasprintf("%s timed out after %lld s", name, (p->deadline_ms - p->start_ms) / 1000);
    case PROC_EXITED: return xasprintf("%s exited with status %d", name, p->code);
    case PROC_SIGNALLED:
        return xasprintf("%s was killed by signal %d (%s)", name, p->sig, strsignal(p->sig));
    }
    return xasprintf("%s ended with wait status %#x", name, p->status);
}

/* The error code for a proc that did not exit 0: callers test it, not the message. */
static int end_err_code(const struct proc *p)
{
    if (p->end == PROC_TIMED_OUT)
        return ERR_TIMEOUT;
    if (p->end == PROC_INTERRUPTED)
        return ERR_INTERRUPTED;
    return ERR_PROC;
}

int proc_run(const struct proc_spec *spec, struct err *e)
{
    struct proc p = PROC_INIT;
    char *what = NULL, *tail = NULL;
    int rc = -1;

    if (proc_start(spec, &p, e) < 0 || proc_wait(&p, e) < 0)
        goto out;
    if (p.end == PROC_EXITED && p.code == 0) {
        rc = 0;
        goto out;
    }
    what = proc_describe(&p);
    if (spec->log_path) {
        err_set(e, end_err_code(&p), "%s (full output in %s)", what, spec->log_path);
    } else {
        /* the last lines of stderr help more than the exit status; the newest survive a cut */
        size_t room = sizeof(((struct err *)0)->msg) - strlen(what) - 32;
        tail = proc_err_tail(&p, 6, room > 256 ? room : 256);
        err_set(e, end_err_code(&p), "%s%s%s", what, *tail ? "; its last output:\n" : "", tail);
    }
out:
    proc_kill(&p); /* only when proc_wait failed: nothing must outlive proc_run */
    free(what);
    free(tail);
    proc_release(&p);
    return rc;
}
