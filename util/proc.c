#include "util/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/proc_priv.h"
#include "util/sv.h"
#include "util/xalloc.h"

static volatile sig_atomic_t interrupt_requested;

void proc_interrupt(void)
{
    interrupt_requested = 1;
}

int proc_interrupted(void)
{
    return interrupt_requested;
}

void proc_interrupt_reset(void)
{
    interrupt_requested = 0;
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
    return 0;
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

int proc_start(const struct proc_spec *spec, struct proc *p, struct err *e)
{
    struct sv env = SV_INIT;
    struct sv argv = SV_INIT;
    char *exe = NULL;
    int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, report[2] = { -1, -1 };
    int log_fd = -1;
    int child_errno = 0;
    ssize_t r;
    pid_t pid, parent;
    int rc = -1;

    p->pid = -1;
    p->end = PROC_RUNNING;
    p->killing = PROC_RUNNING;
    p->code = -1;
    p->sig = 0;
    p->status = 0;
    p->out_fd = -1;
    p->err_fd = -1;
    p->out = spec->out;
    p->name = xstrdup(spec->argv[0]);
    p->err_ring = NULL;
    p->err_len = p->err_head = 0;

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
        err_sys(e, errno, "cannot create pipe");
        goto out;
    }
    parent = getpid();
    pid = fork();
    if (pid < 0) {
        err_sys(e, errno, "cannot fork");
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
        waitpid(pid, NULL, 0);
        err_set(e, ERR_TOOL, "cannot run %s: %s", spec->argv[0], strerror(child_errno));
        goto out;
    }
    p->pid = pid;
    p->start_ms = proc_now_ms();
    p->deadline_ms = spec->timeout_ms > 0 ? p->start_ms + spec->timeout_ms : 0;
    p->grace_ms = spec->grace_ms > 0 ? spec->grace_ms : 3000;
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
    sv_clear(&env);
    sv_clear(&argv);
    free(exe);
    return rc;
}

/* Keeps the newest PROC_ERR_TAIL bytes of stderr: the real error is at the end. */
static void err_ring_add(struct proc *p, const char *data, size_t n)
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

/* Drains whatever is readable on fd: stdout into p->out (capped), stderr into the ring. */
static void drain(struct proc *p, int *fd, int is_err)
{
    char chunk[16384];

    for (;;) {
        ssize_t r = read(*fd, chunk, sizeof(chunk));
        if (r > 0) {
            if (is_err)
                err_ring_add(p, chunk, (size_t)r);
            else
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

static void kill_group(struct proc *p, int sig)
{
    if (p->pid > 0 && p->end == PROC_RUNNING)
        kill(-p->pid, sig);
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
static int try_reap(struct proc *p, struct err *e)
{
    int status;
    pid_t r;

    do
        r = waitpid(p->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == p->pid) {
        set_ended(p, status);
        return 1;
    }
    if (r == 0)
        return 0;
    if (errno == ECHILD)
        err_set(e, ERR_INTERNAL, "cannot wait for %s (pid %d): it was reaped elsewhere "
                "(SIGCHLD ignored, or another waitpid)", p->name, (int)p->pid);
    else
        err_sys(e, errno, "cannot wait for %s (pid %d)", p->name, (int)p->pid);
    return -1;
}

void proc_kill(struct proc *p)
{
    long long until;

    if (p->pid <= 0 || p->end != PROC_RUNNING)
        return;
    kill_group(p, SIGTERM);
    until = proc_now_ms() + p->grace_ms;
    while (proc_now_ms() < until) {
        if (try_reap(p, NULL) != 0)
            break;
        usleep(20000);
    }
    if (p->end == PROC_RUNNING) {
        int status = W_EXITCODE(0, SIGKILL), r;

        /* reaped elsewhere or not: it must not be waited for again */
        kill_group(p, SIGKILL);
        while ((r = waitpid(p->pid, &status, 0)) < 0 && errno == EINTR)
            ;
        set_ended(p, r == p->pid ? status : W_EXITCODE(0, SIGKILL));
    }
    /* stragglers of the group (e.g. a grandchild holding a pipe) */
    kill(-p->pid, SIGKILL);
    if (p->out_fd >= 0)
        drain(p, &p->out_fd, 0);
    if (p->err_fd >= 0)
        drain(p, &p->err_fd, 1);
}

int proc_poll(struct proc *p, int wait_ms, struct err *e)
{
    long long until = proc_now_ms() + wait_ms;

    if (p->end != PROC_RUNNING)
        return 1;
    if (p->pid <= 0) {
        err_set(e, ERR_INTERNAL, "no process to wait for (%s was not started)",
                p->name ? p->name : "it");
        return -1;
    }
    for (;;) {
        struct pollfd fds[2];
        int nfds = 0;
        long long now = proc_now_ms();
        int slice, r;

        r = try_reap(p, e);
        if (r < 0)
            return -1;
        if (r) {
            /* collect the rest of the output */
            if (p->out_fd >= 0)
                drain(p, &p->out_fd, 0);
            if (p->err_fd >= 0)
                drain(p, &p->err_fd, 1);
            return 1;
        }
        if (interrupt_requested) {
            p->killing = PROC_INTERRUPTED;
            proc_kill(p);
            return 1;
        }
        if (p->deadline_ms && now >= p->deadline_ms) {
            p->killing = PROC_TIMED_OUT;
            proc_kill(p);
            return 1;
        }
        if (now >= until)
            return 0;
        slice = (int)(until - now);
        if (slice > 50)
            slice = 50; /* re-check the child and the deadline regularly */
        if (p->out_fd >= 0)
            fds[nfds++] = (struct pollfd){ .fd = p->out_fd, .events = POLLIN };
        if (p->err_fd >= 0)
            fds[nfds++] = (struct pollfd){ .fd = p->err_fd, .events = POLLIN };
        if (nfds == 0) {
            usleep((useconds_t)slice * 1000);
            continue;
        }
        r = poll(fds, (nfds_t)nfds, slice);
        if (r < 0 && errno != EINTR) {
            err_sys(e, errno, "cannot wait for output of %s", p->name);
            return -1;
        }
        if (r > 0) {
            if (p->out_fd >= 0)
                drain(p, &p->out_fd, 0);
            if (p->err_fd >= 0)
                drain(p, &p->err_fd, 1);
        }
    }
}

int proc_wait(struct proc *p, struct err *e)
{
    int r;

    while ((r = proc_poll(p, 1000, e)) == 0)
        ;
    return r < 0 ? -1 : 0;
}

void proc_release(struct proc *p)
{
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
    free(p->err_ring);
    p->err_ring = NULL;
    p->err_len = p->err_head = 0;
    free(p->name);
    p->name = NULL;
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
