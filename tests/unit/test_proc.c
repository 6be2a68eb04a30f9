/* LDWRAP: -Wl,--wrap=fork -Wl,--wrap=pipe2 -Wl,--wrap=execve -Wl,--wrap=poll -Wl,--wrap=syscall */
/*
 * util/proc: starting, waiting for, timing out and interrupting child processes, alone and in
 * a proc_loop. The linker wraps above let tests make fork, pipe2, execve (in the child), poll
 * and pidfd_open fail; unarmed, they call the real functions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/proc.h"
#include "util/proc_priv.h"
#include "util/xalloc.h"

/* Armed failures: 0 = call the real function. Each is one-shot unless said otherwise. */
static int fork_errno;                   /* the next fork fails with this */
static int pipe2_errno, pipe2_countdown; /* the countdown-th pipe2 from now fails (1 = next) */
static volatile int execve_errno;        /* every execve fails with this (read in the child) */
static int poll_errno;                   /* the next poll fails with this */
static int pidfd_errno;                  /* every pidfd_open fails with this */

pid_t __real_fork(void);
int __real_pipe2(int fds[2], int flags);
int __real_execve(const char *path, char *const argv[], char *const envp[]);
int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
long __real_syscall(long number, ...);
pid_t __wrap_fork(void);
int __wrap_pipe2(int fds[2], int flags);
int __wrap_execve(const char *path, char *const argv[], char *const envp[]);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);
long __wrap_syscall(long number, ...);

pid_t __wrap_fork(void)
{
    if (fork_errno) {
        errno = fork_errno;
        fork_errno = 0;
        return -1;
    }
    return __real_fork();
}

int __wrap_pipe2(int fds[2], int flags)
{
    if (pipe2_countdown && --pipe2_countdown == 0) {
        errno = pipe2_errno;
        return -1;
    }
    return __real_pipe2(fds, flags);
}

/* Runs in the child between fork and exec: async-signal-safe (a read and errno). */
int __wrap_execve(const char *path, char *const argv[], char *const envp[])
{
    if (execve_errno) {
        errno = execve_errno;
        return -1;
    }
    return __real_execve(path, argv, envp);
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (poll_errno) {
        errno = poll_errno;
        poll_errno = 0;
        return -1;
    }
    return __real_poll(fds, n, timeout);
}

/* util/proc calls syscall only for pidfd_open(pid, flags). */
long __wrap_syscall(long number, ...)
{
    va_list ap;
    long pid, flags;

    va_start(ap, number);
    pid = va_arg(ap, long);
    flags = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_pidfd_open && pidfd_errno) {
        errno = pidfd_errno;
        return -1;
    }
    return __real_syscall(number, pid, flags);
}

static void test_proc_capture_and_env(void **state)
{
    const char *argv[] = { "sh", "-c", "echo out; echo err >&2; echo \"[$SECRET_VAR][$EXTRA]\"",
                           NULL };
    const char *env[] = { "EXTRA=yes", NULL };
    struct buf out = BUF_INIT;
    struct proc_spec spec = { .argv = argv, .env = env, .out = &out, .timeout_ms = 10000 };
    struct err e = ERR_INIT;

    setenv("SECRET_VAR", "leaked", 1);
    assert_int_equal(proc_run(&spec, &e), 0);
    /* clean environment: only PATH, LC_ALL, HOME and the spec's extras reach the child */
    assert_string_equal(out.data, "out\n[][yes]\n");
    buf_release(&out);
}

static void test_proc_failure_message(void **state)
{
    const char *argv[] = { "sh", "-c", "echo 'something broke' >&2; exit 3", NULL };
    struct proc_spec spec = { .argv = argv };
    struct err e = ERR_INIT;

    assert_int_equal(proc_run(&spec, &e), -1);
    assert_int_equal(e.code, ERR_PROC);
    assert_non_null(strstr(e.msg, "exited with status 3"));
    assert_non_null(strstr(e.msg, "something broke"));
}

static void test_proc_missing_tool(void **state)
{
    const char *argv[] = { "pvlab-no-such-tool", NULL };
    struct proc_spec spec = { .argv = argv };
    struct err e = ERR_INIT;

    assert_int_equal(proc_run(&spec, &e), -1);
    assert_int_equal(e.code, ERR_TOOL);
    assert_non_null(strstr(e.msg, "pvlab-no-such-tool"));
}

/* A timeout must kill the whole process group, grandchildren included. */
static void test_proc_timeout_kills_group(void **state)
{
    char pidfile[] = "/tmp/pvlab-grandchild-XXXXXX";
    int fd = mkstemp(pidfile);
    char *script;
    const char *argv[] = { "sh", "-c", NULL, NULL };
    struct proc_spec spec = { .argv = argv, .timeout_ms = 300, .grace_ms = 200 };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;
    struct buf b = BUF_INIT;
    long long t0 = proc_now_ms();
    int gpid;

    close(fd);
    script = xasprintf("sleep 60 & echo $! > %s; wait", pidfile);
    argv[2] = script;
    assert_int_equal(proc_start(&spec, &p, &e), 0);
    proc_wait(&p, &e);
    assert_int_equal(p.end, PROC_TIMED_OUT);
    assert_true(proc_now_ms() - t0 < 5000);
    assert_int_equal(buf_read_file(&b, pidfile, &e), 0);
    gpid = atoi(b.data);
    assert_true(gpid > 0);
    usleep(100000);
    {
        /* the grandchild is gone too (or a zombie waiting for init to reap it) */
        char *stat_path = xasprintf("/proc/%d/stat", gpid);
        struct buf st = BUF_INIT;
        if (buf_read_file(&st, stat_path, NULL) == 0) {
            const char *paren = strrchr(st.data, ')');
            assert_non_null(paren);
            if (paren[2] != 'Z')
                fail_msg("grandchild %d still running: %s", gpid, st.data);
        }
        buf_release(&st);
        free(stat_path);
    }
    {
        char *d = proc_describe(&p);
        assert_non_null(strstr(d, "timed out"));
        free(d);
    }
    proc_release(&p);
    buf_release(&b);
    unlink(pidfile);
    free(script);
}

static void test_proc_interrupt(void **state)
{
    const char *argv[] = { "sleep", "30", NULL };
    struct proc_spec spec = { .argv = argv, .grace_ms = 200 };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;

    assert_int_equal(proc_start(&spec, &p, &e), 0);
    assert_int_equal(proc_poll(&p, 50, &e), 0);
    proc_interrupt();
    assert_int_equal(proc_poll(&p, 1000, &e), 1);
    assert_int_equal(p.end, PROC_INTERRUPTED);
    proc_release(&p);
    proc_interrupt_reset();
}

/*
 * Started with SIGCHLD ignored (inherited as SIG_IGN), the kernel reaps children itself: `true`
 * must still be reported as exiting 0, at once, not as running until a timeout.
 */
static void test_proc_sigchld_ignored(void **state)
{
    const char *argv[] = { "true", NULL };
    struct proc_spec spec = { .argv = argv, .timeout_ms = 5000 };
    struct sigaction ign, old, now;
    struct err e = ERR_INIT;
    long long t0, ms;
    int rc;

    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGCHLD, &ign, &old);
    t0 = proc_now_ms();
    rc = proc_run(&spec, &e);
    ms = proc_now_ms() - t0;
    sigaction(SIGCHLD, NULL, &now);
    sigaction(SIGCHLD, &old, NULL);
    if (rc < 0)
        fail_msg("true failed with SIGCHLD ignored: %s", e.msg);
    assert_true(ms < 4000);
    assert_true(now.sa_handler == SIG_DFL); /* proc_start reset it */
}

/* proc_init gives SIGCHLD back its default disposition. */
static void test_proc_init_resets_sigchld(void **state)
{
    struct sigaction ign, old, now;
    struct err e = ERR_INIT;

    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGCHLD, &ign, &old);
    assert_int_equal(proc_init(&e), 0);
    sigaction(SIGCHLD, NULL, &now);
    sigaction(SIGCHLD, &old, NULL);
    assert_true(now.sa_handler == SIG_DFL);
}

/* A child reaped behind proc's back (ECHILD) is an error of proc_poll/proc_wait, not "running". */
static void test_proc_echild_is_an_error(void **state)
{
    const char *argv[] = { "true", NULL };
    struct proc_spec spec = { .argv = argv };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;
    int st;

    assert_int_equal(proc_start(&spec, &p, &e), 0);
    assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
    assert_int_equal(proc_poll(&p, 1000, &e), -1);
    assert_non_null(strstr(e.msg, "reaped elsewhere"));
    err_clear(&e);
    assert_int_equal(proc_wait(&p, &e), -1);
    assert_non_null(strstr(e.msg, "true"));
    proc_release(&p);
}

/* Waiting for a proc that was never started fails instead of waiting for any child. */
static void test_proc_wait_not_started(void **state)
{
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;

    assert_int_equal(proc_poll(&p, 0, &e), -1);
    assert_int_equal(e.code, ERR_INTERNAL);
    err_clear(&e);
    assert_int_equal(proc_wait(&p, &e), -1);
    assert_int_equal(e.code, ERR_INTERNAL);
    proc_release(&p);
}

/* proc_wait returns 0 only once the child is reaped. */
static void test_proc_wait_reaps(void **state)
{
    const char *argv[] = { "sh", "-c", "sleep 0.2; exit 4", NULL };
    struct proc_spec spec = { .argv = argv };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;

    assert_int_equal(proc_start(&spec, &p, &e), 0);
    assert_int_equal(proc_poll(&p, 0, &e), 0);
    assert_int_equal(proc_wait(&p, &e), 0);
    assert_int_equal(proc_exit_code(&p), 4);
    assert_int_equal(proc_poll(&p, 0, &e), 1);
    proc_release(&p);
}

/*
 * A large stderr must not push the real error out of proc_run's message: 20 KiB of junk on one
 * line, then the line that matters.
 */
static void test_proc_message_keeps_last_line(void **state)
{
    const char *argv[] = { "sh", "-c",
                           "head -c 20480 /dev/zero | tr '\\0' x >&2; echo >&2; "
                           "echo 'the real error: X' >&2; exit 1",
                           NULL };
    struct proc_spec spec = { .argv = argv, .timeout_ms = 10000 };
    struct err e = ERR_INIT;

    assert_int_equal(proc_run(&spec, &e), -1);
    if (!strstr(e.msg, "the real error: X"))
        fail_msg("the last line is missing from: %.200s...", e.msg);
    assert_non_null(strstr(e.msg, "exited with status 1"));
}

/* The stderr ring keeps the newest bytes across many writes and wrap-arounds. */
static void test_proc_err_tail_newest(void **state)
{
    const char *argv[] = { "sh", "-c",
                           "seq 1 5000 >&2; for i in 1 2 3; do seq 5001 7000 >&2; "
                           "done; echo last >&2",
                           NULL };
    struct proc_spec spec = { .argv = argv, .timeout_ms = 10000 };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;
    char *tail, *all;

    assert_int_equal(proc_start(&spec, &p, &e), 0);
    assert_int_equal(proc_wait(&p, &e), 0);
    tail = proc_err_tail(&p, 3, 0);
    assert_string_equal(tail, "6999\n7000\nlast");
    all = proc_err_tail(&p, 0, 0);
    /* the ring is full: PROC_ERR_TAIL bytes, minus the final newline that is trimmed */
    assert_int_equal(strlen(all), PROC_ERR_TAIL - 1);
    assert_non_null(strstr(all, "\n6000\n6001\n"));
    free(tail);
    free(all);
    tail = proc_err_tail(&p, 2, 7); /* a byte cap cuts the oldest bytes */
    assert_string_equal(tail, "...last");
    free(tail);
    proc_release(&p);
}

/* How a process ended is data: an exit status... */
static void test_proc_end_exited(void **state)
{
    const char *argv[] = { "sh", "-c", "exit 3", NULL };
    struct proc_spec spec = { .argv = argv };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;

    assert_int_equal(proc_start(&spec, &p, &e), 0);
    assert_int_equal(proc_wait(&p, &e), 0);
    assert_int_equal(p.end, PROC_EXITED);
    assert_int_equal(p.code, 3);
    assert_int_equal(p.sig, 0);
    assert_int_equal(proc_exit_code(&p), 3);
    assert_string_equal(proc_end_name(p.end), "exited");
    proc_release(&p);
    assert_int_equal(proc_run(&spec, &e), -1);
    assert_int_equal(e.code, ERR_PROC);
}

/* ...or a signal it got from elsewhere. */
static void test_proc_end_signalled(void **state)
{
    const char *argv[] = { "sh", "-c", "kill -9 $$", NULL };
    struct proc_spec spec = { .argv = argv };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;

    assert_int_equal(proc_start(&spec, &p, &e), 0);
    assert_int_equal(proc_wait(&p, &e), 0);
    assert_int_equal(p.end, PROC_SIGNALLED);
    assert_int_equal(p.sig, SIGKILL);
    assert_int_equal(p.code, -1);
    assert_int_equal(proc_exit_code(&p), 128 + SIGKILL);
    proc_release(&p);
    assert_int_equal(proc_run(&spec, &e), -1);
    assert_int_equal(e.code, ERR_PROC);
    assert_non_null(strstr(e.msg, "killed by signal 9"));
}

/* proc_run says "timed out" with its own error code, so callers never match the message. */
static void test_proc_run_timeout_code(void **state)
{
    const char *argv[] = { "sleep", "30", NULL };
    struct proc_spec spec = { .argv = argv, .timeout_ms = 200, .grace_ms = 200 };
    struct err e = ERR_INIT;
    long long t0 = proc_now_ms();

    assert_int_equal(proc_run(&spec, &e), -1);
    assert_int_equal(e.code, ERR_TIMEOUT);
    assert_string_equal(err_code_name(e.code), "timeout");
    assert_true(proc_now_ms() - t0 < 10000);
}

/* An interrupt is ERR_INTERRUPTED: neither the program's fault nor a timeout. */
static void test_proc_run_interrupt_code(void **state)
{
    const char *argv[] = { "sleep", "30", NULL };
    struct proc_spec spec = { .argv = argv, .grace_ms = 200 };
    struct err e = ERR_INIT;
    long long t0 = proc_now_ms();
    int rc;

    proc_interrupt();
    rc = proc_run(&spec, &e);
    proc_interrupt_reset();
    assert_int_equal(rc, -1);
    assert_int_equal(e.code, ERR_INTERRUPTED);
    assert_string_equal(err_code_name(e.code), "interrupted");
    assert_true(proc_now_ms() - t0 < 10000);
}

/* Starts argv and adds it to l. */
static void start_in(struct proc_loop *l, struct proc *p, const char *const *argv, int timeout_ms,
                     int grace_ms)
{
    struct proc_spec spec = { .argv = argv, .timeout_ms = timeout_ms, .grace_ms = grace_ms };
    struct err e = ERR_INIT;

    if (proc_start(&spec, p, &e) < 0 || proc_loop_add(l, p, &e) < 0)
        fail_msg("cannot start %s: %s", argv[0], e.msg);
}

/* Runs l until every proc has ended (at most limit_ms); returns the number that came out. */
static int run_until_all_ended(struct proc_loop *l, struct proc **out, int max, int limit_ms)
{
    long long until = proc_now_ms() + limit_ms;
    struct err e = ERR_INIT;
    struct proc *p;
    int n = 0;

    while (proc_loop_running(l) > 0 && proc_now_ms() < until)
        if (proc_loop_run(l, 1000, &e) < 0)
            fail_msg("proc_loop_run: %s", e.msg);
    while ((p = proc_loop_ended(l)))
        if (n < max)
            out[n++] = p;
    return n;
}

/* The loop waits for many children at once: five 0.6 s sleeps take about 0.6 s, not 3 s. */
static void test_loop_parallel(void **state)
{
    const char *argv[] = { "sleep", "0.6", NULL };
    struct proc p[5] = { PROC_INIT, PROC_INIT, PROC_INIT, PROC_INIT, PROC_INIT };
    struct proc *ended[5];
    struct proc_loop *l = proc_loop_new();
    long long t0 = proc_now_ms(), ms;

    for (int i = 0; i < 5; i++)
        start_in(l, &p[i], argv, 0, 0);
    assert_int_equal((int)proc_loop_running(l), 5);
    assert_int_equal(run_until_all_ended(l, ended, 5, 20000), 5);
    ms = proc_now_ms() - t0;
    /* serialised, it would be >= 3000 ms; the bound leaves room for a loaded machine */
    if (ms >= 2500)
        fail_msg("five 0.6 s children took %lld ms", ms);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ended[i]->end, PROC_EXITED);
        assert_int_equal(ended[i]->code, 0);
        assert_null(ended[i]->loop);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(ended[i], ended[j]);
    }
    assert_null(proc_loop_ended(l));
    assert_int_equal((int)proc_loop_running(l), 0);
    proc_loop_free(l);
    for (int i = 0; i < 5; i++)
        proc_release(&p[i]);
}

/* Whether pid is gone (or a zombie nobody has reaped yet). */
static int pid_gone(int pid)
{
    char *path = xasprintf("/proc/%d/stat", pid);
    struct buf st = BUF_INIT;
    int gone = 1;

    if (buf_read_file(&st, path, NULL) == 0) {
        const char *paren = strrchr(st.data, ')');
        gone = paren && paren[2] == 'Z';
    }
    buf_release(&st);
    free(path);
    return gone;
}

/*
 * A deadline in the loop kills the child's whole group: a child and grandchild that ignore
 * SIGTERM get SIGKILL after the grace period, while another child of the loop ends normally.
 */
static void test_loop_deadline_kills_group(void **state)
{
    char pidfile[] = "/tmp/pvlab-grandchild-XXXXXX";
    int fd = mkstemp(pidfile);
    char *script = xasprintf("trap '' TERM; sleep 60 & echo $! > %s; wait", pidfile);
    const char *argv[] = { "sh", "-c", script, NULL };
    const char *quick[] = { "sleep", "0.1", NULL };
    struct proc stubborn = PROC_INIT, other = PROC_INIT;
    struct proc *ended[2];
    struct proc_loop *l = proc_loop_new();
    struct buf b = BUF_INIT;
    long long t0 = proc_now_ms(), ms;
    int gpid = 0;

    close(fd);
    start_in(l, &stubborn, argv, 300, 400);
    start_in(l, &other, quick, 0, 0);
    assert_int_equal(run_until_all_ended(l, ended, 2, 20000), 2);
    ms = proc_now_ms() - t0;
    assert_ptr_equal(ended[0], &other); /* ended first, on its own */
    assert_int_equal(other.end, PROC_EXITED);
    assert_int_equal(stubborn.end, PROC_TIMED_OUT);
    assert_int_equal(stubborn.sig, SIGKILL); /* SIGTERM was ignored */
    assert_true(ms >= 650);                  /* the deadline plus the grace period */
    assert_true(ms < 10000);
    assert_int_equal(buf_read_file(&b, pidfile, NULL), 0);
    gpid = atoi(b.data);
    assert_true(gpid > 0);
    for (int i = 0; i < 50 && !pid_gone(gpid); i++)
        usleep(20000);
    if (!pid_gone(gpid)) {
        kill(gpid, SIGKILL);
        fail_msg("grandchild %d survived its group's deadline", gpid);
    }
    proc_loop_free(l);
    proc_release(&stubborn);
    proc_release(&other);
    buf_release(&b);
    unlink(pidfile);
    free(script);
}

struct fd_seen {
    char data[64];
    size_t len;
    int calls;
    int fail;
};

/* A callback: reads what is there; with fail set, reports an error. */
static int on_fd(struct proc_loop *l, int fd, short revents, void *ctx, struct err *e)
{
    struct fd_seen *s = ctx;
    ssize_t r = read(fd, s->data + s->len, sizeof(s->data) - 1 - s->len);

    s->calls++;
    if (r > 0)
        s->len += (size_t)r;
    if (r == 0)
        proc_loop_remove_fd(l, fd); /* EOF: callbacks may remove their own descriptor */
    if (s->fail) {
        err_set(e, ERR_IO, "callback failed");
        return -1;
    }
    return 0;
}

/* An extra descriptor wakes the loop and runs its callback while a child keeps running. */
static void test_loop_extra_fd(void **state)
{
    const char *argv[] = { "sleep", "30", NULL };
    struct proc p = PROC_INIT;
    struct proc_loop *l = proc_loop_new();
    struct fd_seen seen = { .len = 0 };
    struct err e = ERR_INIT;
    int fds[2];
    long long t0;

    assert_int_equal(pipe(fds), 0);
    start_in(l, &p, argv, 0, 200);
    assert_int_equal(proc_loop_add_fd(l, fds[0], POLLIN, on_fd, &seen, &e), 0);
    assert_int_equal(proc_loop_add_fd(l, fds[0], POLLIN, on_fd, &seen, &e), -1); /* twice */
    assert_int_equal(write(fds[1], "hi", 2), 2);
    t0 = proc_now_ms();
    assert_int_equal(proc_loop_run(l, 10000, &e), 1);
    assert_true(proc_now_ms() - t0 < 5000);
    assert_int_equal(seen.calls, 1);
    assert_memory_equal(seen.data, "hi", 2);
    assert_int_equal(p.end, PROC_RUNNING);
    /* EOF: the callback removes its descriptor; later rounds do not call it */
    close(fds[1]);
    assert_int_equal(proc_loop_run(l, 10000, &e), 1);
    assert_int_equal(seen.calls, 2);
    assert_int_equal(proc_loop_run(l, 50, &e), 0);
    assert_int_equal(seen.calls, 2);
    /* a failing callback fails the round */
    assert_int_equal(pipe(fds), 0);
    seen.fail = 1;
    assert_int_equal(proc_loop_add_fd(l, fds[0], POLLIN, on_fd, &seen, &e), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(proc_loop_run(l, 10000, &e), -1);
    assert_string_equal(e.msg, "callback failed");
    proc_loop_remove_fd(l, fds[0]);
    close(fds[0]);
    close(fds[1]);
    proc_loop_kill_all(l);
    assert_ptr_equal(proc_loop_ended(l), &p);
    assert_int_equal(p.end, PROC_SIGNALLED); /* killed by its owner, not for a deadline */
    assert_int_equal(p.sig, SIGTERM);
    proc_loop_free(l);
    proc_release(&p);
}

/* A round with nothing happening returns 0 after its timeout. */
static void test_loop_timeout(void **state)
{
    const char *argv[] = { "sleep", "30", NULL };
    struct proc p = PROC_INIT;
    struct proc_loop *l = proc_loop_new();
    struct err e = ERR_INIT;
    long long t0, ms;

    start_in(l, &p, argv, 0, 200);
    t0 = proc_now_ms();
    assert_int_equal(proc_loop_run(l, 150, &e), 0);
    ms = proc_now_ms() - t0;
    /* with a pidfd nothing but the timeout ends this round (without, a waitpid slice may) */
    assert_true(ms >= (p.pidfd >= 0 ? 140 : 0) && ms < 5000);
    assert_null(proc_loop_ended(l));
    /* a proc in a loop is the loop's to wait for */
    assert_int_equal(proc_poll(&p, 0, &e), -1);
    assert_int_equal(e.code, ERR_INTERNAL);
    /* proc_kill takes it out of the loop first */
    proc_kill(&p);
    assert_null(p.loop);
    assert_int_equal(p.end, PROC_SIGNALLED);
    assert_int_equal((int)proc_loop_running(l), 0);
    proc_loop_free(l);
    proc_release(&p);
}

static void on_alarm(int sig)
{
    proc_interrupt();
}

/* An interrupt from a signal handler wakes a blocked loop, which stops all its children. */
static void test_loop_interrupt(void **state)
{
    const char *argv[] = { "sleep", "30", NULL };
    struct proc p[3] = { PROC_INIT, PROC_INIT, PROC_INIT };
    struct proc *ended[3];
    struct proc_loop *l = proc_loop_new();
    struct itimerval it = { .it_value = { .tv_usec = 200000 } };
    struct sigaction sa, old;
    struct err e = ERR_INIT;
    long long t0 = proc_now_ms(), ms;
    int n = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, &old);
    for (int i = 0; i < 3; i++)
        start_in(l, &p[i], argv, 0, 1000);
    setitimer(ITIMER_REAL, &it, NULL);
    /* the round sleeps up to 5 s: only the interrupt can end it sooner */
    while (proc_loop_running(l) > 0 && proc_now_ms() - t0 < 20000)
        if (proc_loop_run(l, 5000, &e) < 0)
            fail_msg("proc_loop_run: %s", e.msg);
    ms = proc_now_ms() - t0;
    sigaction(SIGALRM, &old, NULL);
    proc_interrupt_reset();
    n = run_until_all_ended(l, ended, 3, 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(p[i].end, PROC_INTERRUPTED);
    assert_true(ms < 4000);
    proc_loop_free(l);
    for (int i = 0; i < 3; i++)
        proc_release(&p[i]);
}

/* A child of the loop reaped behind its back (ECHILD) is an error of the round. */
static void test_loop_echild(void **state)
{
    const char *argv[] = { "true", NULL };
    struct proc p = PROC_INIT;
    struct proc_loop *l = proc_loop_new();
    struct err e = ERR_INIT;
    int st;

    start_in(l, &p, argv, 0, 0);
    assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
    assert_int_equal(proc_loop_run(l, 5000, &e), -1);
    assert_non_null(strstr(e.msg, "reaped elsewhere"));
    proc_loop_free(l);
    proc_release(&p);
}

/* proc_release takes a proc out of its loop: the loop never touches freed memory. */
static void test_loop_release_removes(void **state)
{
    const char *argv[] = { "sleep", "0.1", NULL };
    struct proc *p = xcalloc(1, sizeof(*p)), q = PROC_INIT;
    struct proc *ended[2];
    struct proc_loop *l = proc_loop_new();

    *p = (struct proc)PROC_INIT;
    start_in(l, p, argv, 0, 0);
    start_in(l, &q, argv, 0, 0);
    proc_kill(p);
    proc_release(p);
    free(p);
    assert_int_equal(run_until_all_ended(l, ended, 2, 20000), 1);
    assert_ptr_equal(ended[0], &q);
    proc_loop_free(l);
    proc_release(&q);
}

/* inherit_env: the caller's environment reaches the child, and the spec's extras still win. */
static void test_proc_inherit_env(void **state)
{
    const char *argv[] = { "sh", "-c", "echo \"[$PVLAB_T_KEEP][$PVLAB_T_OVER][$EXTRA][$LC_ALL]\"",
                           NULL };
    const char *env[] = { "EXTRA=yes", "PVLAB_T_OVER=new", NULL };
    struct buf out = BUF_INIT;
    struct proc_spec spec = { .argv = argv, .env = env, .out = &out, .inherit_env = 1 };
    struct err e = ERR_INIT;

    setenv("PVLAB_T_KEEP", "kept", 1);
    setenv("PVLAB_T_OVER", "old", 1);
    setenv("LC_ALL", "C.UTF-8", 1);
    assert_int_equal(proc_run(&spec, &e), 0);
    assert_string_equal(out.data, "[kept][new][yes][C.UTF-8]\n");
    /* the default stays the clean environment */
    buf_reset(&out);
    spec.inherit_env = 0;
    assert_int_equal(proc_run(&spec, &e), 0);
    assert_string_equal(out.data, "[][new][yes][C]\n");
    unsetenv("PVLAB_T_KEEP");
    unsetenv("PVLAB_T_OVER");
    unsetenv("LC_ALL");
    buf_release(&out);
}

/* Collects what arrives on a pipe until EOF (a loop callback). */
static int collect(struct proc_loop *l, int fd, short revents, void *ctx, struct err *e)
{
    struct buf *b = ctx;
    char chunk[256];
    ssize_t r = read(fd, chunk, sizeof(chunk));

    if (r > 0)
        buf_add(b, chunk, (size_t)r);
    else if (r == 0)
        proc_loop_remove_fd(l, fd);
    return 0;
}

/*
 * pass_fd: a result pipe's write end becomes fd 3 in the child, and the loop reads the other
 * end next to the child's exit: the way a trial reports its typed result.
 */
static void test_proc_pass_fd(void **state)
{
    const char *argv[] = { "sh", "-c", "echo '{\"verdict\":\"pass\"}' >&3", NULL };
    struct proc_spec spec = { .argv = argv, .pass_fd_as = 3 };
    struct proc p = PROC_INIT;
    struct proc_loop *l = proc_loop_new();
    struct buf result = BUF_INIT;
    struct err e = ERR_INIT;
    long long until = proc_now_ms() + 10000;
    int fds[2];

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    spec.pass_fd = fds[1];
    assert_int_equal(proc_start(&spec, &p, &e), 0);
    close(fds[1]); /* the child has its copy: EOF comes when it is done */
    assert_int_equal(proc_loop_add(l, &p, &e), 0);
    assert_int_equal(proc_loop_add_fd(l, fds[0], POLLIN, collect, &result, &e), 0);
    while ((proc_loop_running(l) > 0 || result.len == 0 || fcntl(fds[0], F_GETFD) < 0) &&
           proc_now_ms() < until) {
        assert_int_equal(proc_loop_run(l, 1000, &e) >= 0, 1);
        if (proc_loop_running(l) == 0 && result.len)
            break;
    }
    assert_ptr_equal(proc_loop_ended(l), &p);
    assert_int_equal(p.end, PROC_EXITED);
    assert_int_equal(p.code, 0);
    assert_string_equal(result.data, "{\"verdict\":\"pass\"}\n");
    proc_loop_free(l);
    proc_release(&p);
    close(fds[0]);
    buf_release(&result);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/*
 * The descriptors a running child has, as "0 1 2 ..." (malloc'd), given pass_fd as pass_as:
 * looked at from outside once it says it is ready (right after exec, the dynamic loader still
 * has files open).
 */
static char *fds_of(int pass_fd, int pass_as)
{
    const char *argv[] = { "sh", "-c", "echo ready; sleep 30; :", NULL };
    struct buf b = BUF_INIT, out = BUF_INIT;
    struct proc_spec spec = {
        .argv = argv, .out = &out, .grace_ms = 200, .pass_fd = pass_fd, .pass_fd_as = pass_as
    };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;
    struct dirent *de;
    int fd[64], n = 0;
    char *path;
    DIR *d;

    if (proc_start(&spec, &p, &e) < 0)
        fail_msg("%s", e.msg);
    while (!strstr(out.data, "ready\n"))
        assert_int_equal(proc_poll(&p, 1000, &e), 0);
    path = xasprintf("/proc/%d/fd", (int)p.pid);
    d = opendir(path);
    assert_non_null(d);
    while ((de = readdir(d)) && n < 64)
        if (de->d_name[0] != '.')
            fd[n++] = atoi(de->d_name);
    closedir(d);
    qsort(fd, (size_t)n, sizeof(fd[0]), cmp_int);
    for (int i = 0; i < n; i++)
        buf_addf(&b, "%s%d", i ? " " : "", fd[i]);
    proc_kill(&p);
    proc_release(&p);
    buf_release(&out);
    free(path);
    return buf_detach(&b, NULL);
}

/* Only 0/1/2 and the passed descriptor reach the child, even when ours were not close-on-exec. */
static void test_proc_fds_closed(void **state)
{
    const char *argv[] = { "true", NULL };
    struct proc_spec spec = { .argv = argv, .pass_fd_as = 3 };
    struct err e = ERR_INIT;
    int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC */
    int fds[2];
    char *got, *want;

    assert_true(leak >= 3);
    got = fds_of(-1, 0);
    assert_string_equal(got, "0 1 2");
    free(got);
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    got = fds_of(fds[1], 3);
    assert_string_equal(got, "0 1 2 3");
    free(got);
    /* passed as its own number: dup2 onto itself would keep close-on-exec, so it must not */
    got = fds_of(fds[1], fds[1]);
    want = xasprintf("0 1 2 %d", fds[1]);
    assert_string_equal(got, want);
    free(got);
    /* a descriptor that is not open is refused */
    spec.pass_fd = leak + 1000;
    assert_int_equal(proc_run(&spec, &e), -1);
    assert_int_equal(e.code, ERR_INTERNAL);
    close(fds[0]);
    close(fds[1]);
    close(leak);
    free(want);
}

/* Signals the caller ignores or blocks are at their defaults, unblocked, in the child. */
static void test_proc_child_signals_default(void **state)
{
    /* read with builtins: a forked grep would see the mask sh sets around its own forks */
    const char *argv[] = { "sh", "-c",
                           "while read -r l; do case $l in SigBlk*) echo \"$l\";; "
                           "esac; done < /proc/$$/status; kill -USR1 $$; echo alive",
                           NULL };
    struct buf out = BUF_INIT;
    struct proc_spec spec = { .argv = argv, .out = &out };
    struct proc p = PROC_INIT;
    struct sigaction ign, old;
    sigset_t usr2, oldmask;
    struct err e = ERR_INIT;

    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGUSR1, &ign, &old);
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, &oldmask);
    assert_int_equal(proc_start(&spec, &p, &e), 0);
    sigaction(SIGUSR1, &old, NULL);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    assert_int_equal(proc_wait(&p, &e), 0);
    assert_int_equal(p.end, PROC_SIGNALLED);
    assert_int_equal(p.sig, SIGUSR1);
    assert_string_equal(out.data, "SigBlk:\t0000000000000000\n");
    proc_release(&p);
    buf_release(&out);
}

/* How many descriptors this process has open. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* No child of ours is left, running or zombie. */
static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* A failed fork is a clear error of proc_start, and nothing is left open or blocked. */
static void test_fault_fork(void **state)
{
    const char *argv[] = { "sh", "-c", "true", NULL };
    struct buf out = BUF_INIT;
    struct proc_spec spec = { .argv = argv, .out = &out };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;
    sigset_t before, after;
    int fds = open_fds();

    sigprocmask(SIG_SETMASK, NULL, &before);
    fork_errno = EAGAIN;
    assert_int_equal(proc_start(&spec, &p, &e), -1);
    assert_int_equal(fork_errno, 0); /* it was called */
    assert_string_equal(e.msg, "cannot fork to run sh: Resource temporarily unavailable");
    assert_int_equal(p.pid, -1);
    assert_null(p.name);
    assert_int_equal(open_fds(), fds);
    sigprocmask(SIG_SETMASK, NULL, &after);
    assert_int_equal(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
    assert_int_equal(sigismember(&after, SIGCHLD), sigismember(&before, SIGCHLD));
    assert_no_children();
    proc_release(&p); /* harmless after a failed start */
    /* and the next start works */
    assert_int_equal(proc_run(&spec, &e), 0);
    buf_release(&out);
}

/* Each of proc_start's pipes failing in turn: -1, and the pipes made before it are closed. */
static void test_fault_pipe2(void **state)
{
    const char *argv[] = { "sh", "-c", "true", NULL };
    struct buf out = BUF_INIT;
    struct proc_spec spec = { .argv = argv, .out = &out };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;
    int fds = open_fds();

    for (int nth = 1; nth <= 3; nth++) { /* stdout, stderr, exec report */
        err_clear(&e);
        pipe2_errno = EMFILE;
        pipe2_countdown = nth;
        assert_int_equal(proc_start(&spec, &p, &e), -1);
        assert_int_equal(pipe2_countdown, 0);
        assert_non_null(strstr(e.msg, "cannot create a pipe to run sh"));
        assert_non_null(strstr(e.msg, "Too many open files"));
        assert_int_equal(open_fds(), fds);
        assert_no_children();
    }
    assert_int_equal(proc_run(&spec, &e), 0);
    buf_release(&out);
}

/* execve failing in the child: proc_start's error (ERR_TOOL) names the program. */
static void test_fault_execve(void **state)
{
    const char *argv[] = { "sh", "-c", "true", NULL };
    struct proc_spec spec = { .argv = argv };
    struct proc p = PROC_INIT;
    struct err e = ERR_INIT;
    int fds = open_fds();

    execve_errno = EACCES;
    assert_int_equal(proc_start(&spec, &p, &e), -1);
    assert_int_equal(e.code, ERR_TOOL);
    assert_non_null(strstr(e.msg, "cannot run sh"));
    assert_non_null(strstr(e.msg, "Permission denied"));
    execve_errno = ENOEXEC;
    assert_int_equal(proc_run(&spec, &e), -1);
    assert_int_equal(e.code, ERR_TOOL);
    assert_non_null(strstr(e.msg, "Exec format error"));
    execve_errno = 0;
    assert_int_equal(p.pid, -1);
    assert_int_equal(open_fds(), fds);
    assert_no_children(); /* the failed child was reaped */
    assert_int_equal(proc_run(&spec, &e), 0);
}

/* poll failing is an error of proc_poll, proc_wait and proc_loop_run; EINTR is not. */
static void test_fault_poll(void **state)
{
    const char *argv[] = { "sleep", "30", NULL };
    struct proc_spec spec = { .argv = argv, .grace_ms = 200 };
    struct proc p = PROC_INIT;
    struct proc_loop *l = proc_loop_new();
    struct err e = ERR_INIT;

    assert_int_equal(proc_start(&spec, &p, &e), 0);
    poll_errno = ENOMEM;
    assert_int_equal(proc_poll(&p, 100, &e), -1);
    assert_non_null(strstr(e.msg, "Cannot allocate memory"));
    err_clear(&e);
    poll_errno = EINVAL;
    assert_int_equal(proc_wait(&p, &e), -1);
    assert_non_null(strstr(e.msg, "Invalid argument"));
    poll_errno = EINTR;
    assert_int_equal(proc_poll(&p, 50, &e), 0); /* a signal: still running */
    assert_int_equal(proc_loop_add(l, &p, &e), 0);
    poll_errno = ENOMEM;
    assert_int_equal(proc_loop_run(l, 100, &e), -1);
    assert_int_equal(p.end, PROC_RUNNING);
    proc_kill(&p);
    assert_int_equal(p.end, PROC_SIGNALLED);
    proc_loop_free(l);
    proc_release(&p);
    assert_no_children();
}

/*
 * Without pidfd_open (ENOSYS: an old kernel) the loop falls back to checking waitpid in short
 * slices: children are still waited for together, deadlines still kill. Any other pidfd_open
 * failure is an error of proc_start that leaves nothing behind.
 */
static void test_fault_no_pidfd(void **state)
{
    const char *sleep3[] = { "sleep", "0.6", NULL };
    const char *forever[] = { "sleep", "30", NULL };
    struct proc p[4] = { PROC_INIT, PROC_INIT, PROC_INIT, PROC_INIT };
    struct proc *ended[4];
    struct proc_loop *l = proc_loop_new();
    struct proc_spec spec = { .argv = forever };
    struct err e = ERR_INIT;
    long long t0 = proc_now_ms(), ms;
    int fds;

    pidfd_errno = ENOSYS;
    for (int i = 0; i < 3; i++)
        start_in(l, &p[i], sleep3, 0, 0);
    start_in(l, &p[3], forever, 300, 200);
    for (int i = 0; i < 4; i++)
        assert_int_equal(p[i].pidfd, -1);
    assert_int_equal(run_until_all_ended(l, ended, 4, 20000), 4);
    ms = proc_now_ms() - t0;
    assert_true(ms < 2500);
    for (int i = 0; i < 3; i++)
        assert_int_equal(p[i].end, PROC_EXITED);
    assert_int_equal(p[3].end, PROC_TIMED_OUT);
    for (int i = 0; i < 4; i++)
        proc_release(&p[i]);
    proc_loop_free(l);
    /* another failure: proc_start kills and reaps the child it cannot watch */
    fds = open_fds();
    pidfd_errno = EMFILE;
    assert_int_equal(proc_start(&spec, &p[0], &e), -1);
    assert_non_null(strstr(e.msg, "cannot watch sleep"));
    pidfd_errno = 0;
    assert_int_equal(open_fds(), fds);
    assert_no_children();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_capture_and_env),
        cmocka_unit_test(test_proc_failure_message),
        cmocka_unit_test(test_proc_missing_tool),
        cmocka_unit_test(test_proc_timeout_kills_group),
        cmocka_unit_test(test_proc_sigchld_ignored),
        cmocka_unit_test(test_proc_init_resets_sigchld),
        cmocka_unit_test(test_proc_echild_is_an_error),
        cmocka_unit_test(test_proc_wait_not_started),
        cmocka_unit_test(test_proc_wait_reaps),
        cmocka_unit_test(test_proc_message_keeps_last_line),
        cmocka_unit_test(test_proc_err_tail_newest),
        cmocka_unit_test(test_proc_end_exited),
        cmocka_unit_test(test_proc_end_signalled),
        cmocka_unit_test(test_proc_run_timeout_code),
        cmocka_unit_test(test_proc_run_interrupt_code),
        cmocka_unit_test(test_proc_interrupt),
        cmocka_unit_test(test_loop_parallel),
        cmocka_unit_test(test_loop_deadline_kills_group),
        cmocka_unit_test(test_loop_extra_fd),
        cmocka_unit_test(test_loop_timeout),
        cmocka_unit_test(test_loop_interrupt),
        cmocka_unit_test(test_loop_echild),
        cmocka_unit_test(test_loop_release_removes),
        cmocka_unit_test(test_proc_inherit_env),
        cmocka_unit_test(test_proc_pass_fd),
        cmocka_unit_test(test_proc_fds_closed),
        cmocka_unit_test(test_proc_child_signals_default),
        cmocka_unit_test(test_fault_fork),
        cmocka_unit_test(test_fault_pipe2),
        cmocka_unit_test(test_fault_execve),
        cmocka_unit_test(test_fault_poll),
        cmocka_unit_test(test_fault_no_pidfd),
    };
    struct err e = ERR_INIT;

    if (proc_init(&e) < 0) { /* as main does: the interrupt pipe exists before pipe2 is counted */
        fprintf(stderr, "proc_init: %s\n", e.msg);
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
