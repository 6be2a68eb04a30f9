/*
 * lab/qmp: the QMP client against a scripted server on a unix socket (a child process that
 * speaks QEMU's greeting, replies and events): capabilities, replies past events, error
 * replies, and qmp_poll until the status leaves its pending list; and the snapshot cache's
 * pruning (lab/trial.c). The real QEMU side is covered by tests/e2e/t1090-run-snapshots.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab/qmp.h"
#include "lab/trial.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

static char sock_path[108];

/* Serves one client: each line read gets the next scripted answer (lines may hold several). */
static pid_t serve(const char *const *answers)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    pid_t pid;

    snprintf(sock_path, sizeof(sock_path), "/tmp/pvlab-test-qmp-%d.sock", (int)getpid());
    unlink(sock_path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(ls, 1), 0);
    pid = fork();
    if (pid == 0) {
        int c = accept(ls, NULL, NULL);
        char ch;
        const char *greet = "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n";
        if (write(c, greet, strlen(greet)) < 0)
            _exit(1);
        for (size_t i = 0; answers[i]; i++) {
            while (read(c, &ch, 1) == 1 && ch != '\n')
                ;
            if (write(c, answers[i], strlen(answers[i])) < 0)
                _exit(1);
        }
        sleep(5);
        _exit(0);
    }
    close(ls);
    return pid;
}

static void done(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(sock_path);
}

static void test_poll_past_events(void **state)
{
    static const char *const script[] = {
        "{\"return\": {}}\r\n",                       /* capabilities */
        "{\"return\": {\"status\": \"active\"}}\r\n", /* poll 1 */
        "{\"timestamp\": {}, \"event\": \"STOP\"}\r\n{\"return\": {\"status\": \"setup\"}}\r\n",
        "{\"return\": {\"status\": \"completed\", \"total-time\": 5}}\r\n", /* poll 3 */
        NULL,
    };
    static const char *const moving[] = { "setup", "active", NULL };
    pid_t pid = serve(script);
    struct qmp q;
    struct err e = ERR_INIT;
    char status[32];

    assert_int_equal(qmp_open(&q, sock_path, 5000, &e), 0);
    assert_int_equal(qmp_poll(&q, "query-migrate", moving, 5000, status, sizeof(status), &e), 0);
    assert_string_equal(status, "completed");
    qmp_close(&q);
    done(pid);
}

static void test_error_and_timeout(void **state)
{
    static const char *const script[] = {
        "{\"return\": {}}\r\n",
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no migration\"}}\r\n",
        "{\"return\": {\"status\": \"inmigrate\"}}\r\n",
        "{\"return\": {\"status\": \"inmigrate\"}}\r\n",
        "{\"return\": {\"status\": \"inmigrate\"}}\r\n",
        "{\"return\": {\"status\": \"inmigrate\"}}\r\n",
        NULL,
    };
    static const char *const loading[] = { "inmigrate", NULL };
    pid_t pid = serve(script);
    struct qmp q;
    struct err e = ERR_INIT;
    char status[32];

    assert_int_equal(qmp_open(&q, sock_path, 5000, &e), 0);
    assert_int_equal(qmp_cmd(&q, "{\"execute\":\"migrate\"}", 5000, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "no migration"));
    /* still loading after the deadline: a timeout that says the status */
    err_clear(&e);
    assert_int_equal(qmp_poll(&q, "query-status", loading, 30, status, sizeof(status), &e), -1);
    assert_int_equal(e.code, ERR_TIMEOUT);
    assert_non_null(strstr(e.msg, "inmigrate"));
    qmp_close(&q);
    done(pid);
}

static void test_no_socket(void **state)
{
    struct qmp q;
    struct err e = ERR_INIT;

    assert_int_equal(qmp_open(&q, "/tmp/pvlab-test-qmp-none.sock", 100, &e), -1);
    assert_non_null(strstr(e.msg, "cannot connect"));
}

/* The cache keeps the most recently used snapshots: by mtime, which a restore touches. */
static void test_snapshots_prune(void **state)
{
    const char *dir = "/tmp/pvlab-test-prune";
    const char *names[] = { "a.mig", "b.mig", "c.mig", "d.mig" };
    (void)state;
    fs_rmtree(dir, NULL);
    assert_int_equal(fs_mkdirs(dir, NULL), 0);
    for (int i = 0; i < 4; i++) {
        char *p = xasprintf("%s/%s", dir, names[i]), *side = xasprintf("%s.sha256", p);
        struct timespec ts[2] = { { 1000000 + i * 10, 0 }, { 1000000 + i * 10, 0 } };
        assert_int_equal(fs_write_atomic(p, "m", 1, NULL), 0);
        assert_int_equal(fs_write_atomic(side, "s\n", 2, NULL), 0);
        if (i == 1) { /* b's boot console goes with it */
            char *boot = xasprintf("%s" TRIAL_SNAP_BOOT_LOG, p);
            assert_int_equal(fs_write_atomic(boot, "(XEN)\n", 6, NULL), 0);
            free(boot);
        }
        if (i == 0) /* a.mig was restored last: the newest */
            ts[1].tv_sec = 2000000;
        assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
        free(p);
        free(side);
    }
    {
        /* being written by a live process: kept; left by a dead one: removed */
        char *live = xasprintf("%s/e.mig.tmp.%ld", dir, (long)getpid());
        pid_t gone = fork();
        char *dead;
        if (gone == 0)
            _exit(0);
        assert_true(gone > 0 && waitpid(gone, NULL, 0) == gone); /* reaped: that pid is dead */
        dead = xasprintf("%s/f.mig.tmp.%ld", dir, (long)gone);
        assert_int_equal(fs_write_atomic(live, "t", 1, NULL), 0);
        assert_int_equal(fs_write_atomic(dead, "t", 1, NULL), 0);
        assert_int_equal(trial_snapshots_prune(dir, 2), 3);
        assert_true(fs_exists(live));
        assert_false(fs_exists(dead));
        free(live);
        free(dead);
    }
    assert_true(fs_exists("/tmp/pvlab-test-prune/a.mig"));
    assert_true(fs_exists("/tmp/pvlab-test-prune/a.mig.sha256"));
    assert_true(fs_exists("/tmp/pvlab-test-prune/d.mig"));
    assert_false(fs_exists("/tmp/pvlab-test-prune/b.mig"));
    assert_false(fs_exists("/tmp/pvlab-test-prune/b.mig.sha256"));
    assert_false(fs_exists("/tmp/pvlab-test-prune/b.mig.boot.log"));
    assert_false(fs_exists("/tmp/pvlab-test-prune/c.mig"));
    assert_int_equal(trial_snapshots_prune(dir, 2), 0); /* within the bound: nothing */
    assert_int_equal(trial_snapshots_prune("/tmp/pvlab-test-prune/none", 1), 0);
    fs_rmtree(dir, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshots_prune),
        cmocka_unit_test(test_poll_past_events),
        cmocka_unit_test(test_error_and_timeout),
        cmocka_unit_test(test_no_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
