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

/* Builds the child's environment: a fixed minimal base plus the spec's extras. */
static void build_env(struct sv *env, const char *const *extra)
{
    const char *home = getenv("HOME");
    const char *path = getenv("PATH");

    sv_pushf(env, "PATH=%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
    sv_push(env, "LC_ALL=C");
    sv_pushf(env, "HOME=%s", home ? home : "/");
    sv_pushv(env, extra);
}

/* Child side: only async-signal-safe calls between fork and exec. */
static void child_exec(const struct proc_spec *spec, char *const *argv, char *const *envp,
                       const char *exe, int out_w, int err_w, int log_fd, int report_fd,
                       pid_t parent)
{
    int devnull = open("/dev/null", O_RDWR);
    int out_target, err_target, e;
    long fd, maxfd;

    setpgid(0, 0);
    /* a pvlab killed with -9 must not leave a QEMU running on its own */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    out_target = out_w >= 0 ? out_w : (log_fd >= 0 ? log_fd : devnull);
    err_target = log_fd >= 0 ? log_fd : (err_w >= 0 ? err_w : devnull);
    if (dup2(devnull, 0) < 0 || dup2(out_target, 1) < 0 || dup2(err_target, 2) < 0)
        goto fail;
    maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd < 0 || maxfd > 65536)
        maxfd = 65536;
    for (fd = 3; fd < maxfd; fd++)
        if (fd != report_fd)
            close((int)fd);
    if (spec->cwd && chdir(spec->cwd) < 0)
        goto fail;
    execve(exe, argv, envp);
fail:
    e = errno;
    (void)!write(report_fd, &e, sizeof(e));
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

int proc_start(const struct proc_spec *spec, struct proc *p, struct err *e)
{
    struct sv env = SV_INIT;
    struct sv argv = SV_INIT;
    char *exe = NULL;
    int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, report[2] = { -1, -1 };
    int log_fd = -1, pidfd = -1;
    int child_errno = 0;
    ssize_t r;
    pid_t pid = -1, parent;
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
    build_env(&env, spec->env);
    sv_pushv(&argv, spec->argv);
    sv_argv(&argv);
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
    parent = getpid();
    pid = fork();
    if (pid < 0) {
        err_sys(e, errno, "cannot fork to run %s", spec->argv[0]);
        goto out;
    }
    if (pid == 0)
        child_exec(spec, argv.v, sv_argv(&env), exe, out_pipe[1], err_pipe[1], log_fd, report[1],
                   parent);
    setpgid(pid, pid); /* also in the parent, so a kill right after fork reaches the group */
    close(report[1]);
    report[1] = -1;
    do
        r = read(report[0], &child_errno, sizeof(child_errno));
    while (r < 0 && errno == EINTR);
    if (r == sizeof(child_errno)) {
        err_set(e, ERR_TOOL, "cannot run %s (%s): %s", spec->argv[0], exe,
                strerror(child_errno));
        goto out;
    }
    if (pidfd_for(pid, spec->argv[0], &pidfd, e) < 0) {
        kill(-pid, SIGKILL);
        goto out;
    }
    p->pid = pid;
    pid = -1;
    p->pidfd = pidfd;
    pidfd = -1;
    p->start_ms = proc_now_ms();
    p->deadline_ms = spec->timeout_ms > 0 ? p->start_ms + spec->timeout_ms : 0;
    p->grace_ms = spec->grace_ms > 0 ? spec->grace_ms : 3000;
    p->out = spec->out;
    if (out_pipe[0] >= 0) {
        p->out_fd = out_pipe[0];
        out_pipe[0] = -1;
        fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    }
    if (err_pipe[0] >= 0) {
        p->err_fd = err_pipe[0];
        err_pipe[0] = -1;
        fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
    }
    rc = 0;
out:
    if (pid > 0) /* a child that failed to exec, or that we cannot watch: reap it */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
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
    case PROC_INTERRUPTED:
        return xasprintf("%s was stopped because pvlab was interrupted", name);
    case PROC_TIMED_OUT:
        return xasprintf("%s timed out after %lld s", name, (p->deadline_ms - p->start_ms) / 1000);
    case PROC_EXITED:
        return xasprintf("%s exited with status %d", name, p->code);
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
