/*
 * lab/qmp: the QMP client against a scripted server on a unix socket (a child process that
 * speaks QEMU's greeting, replies and events): capabilities, replies past events, error
 * replies, and qmp_poll until the status leaves its pending list. The real QEMU side is
 * covered by tests/e2e/t1090-run-snapshots.sh.
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
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab/qmp.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_past_events),
        cmocka_unit_test(test_error_and_timeout),
        cmocka_unit_test(test_no_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
