/* util/proc: starting, waiting for, timing out and interrupting child processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/proc.h"
#include "util/proc_priv.h"
#include "util/xalloc.h"

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
    const char *argv[] = { "sh", "-c", "head -c 20480 /dev/zero | tr '\\0' x >&2; echo >&2; "
                           "echo 'the real error: X' >&2; exit 1", NULL };
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
    const char *argv[] = { "sh", "-c", "seq 1 5000 >&2; for i in 1 2 3; do seq 5001 7000 >&2; "
                           "done; echo last >&2", NULL };
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
