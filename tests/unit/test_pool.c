/*
 * The trial pool's heartbeat: a tick every tick_ms while pool_wait waits on a running task
 * (what a dashboard worker uses to keep its lease), never without one, and the task's
 * outcome unchanged by it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "jobs/pool.h"
#include "util/proc.h"

/* A pvlab replaced on disk while a matrix runs still starts its trials: its own image. */
static void test_exe_path(void **state)
{
    char *p;
    (void)state;
    p = pool_exe_path("/usr/local/bin/pvlab");
    assert_string_equal(p, "/usr/local/bin/pvlab");
    free(p);
    p = pool_exe_path("/work/pvlab (deleted)");
    assert_string_equal(p, "/proc/self/exe");
    free(p);
    p = pool_exe_path(NULL);
    assert_string_equal(p, "pvlab");
    free(p);
}

static int ticks;

static void on_tick(void *ctx)
{
    (void)ctx;
    ticks++;
}

/* Runs `sleep 1; exit 3` through a pool with ev (may be NULL); returns its exit code. */
static int run_one(const struct pool_events *ev)
{
    struct config cfg;
    struct pool *p;
    struct pool_task t = { 0 };
    struct pool_result r;
    struct err e = ERR_INIT;
    int code;

    config_defaults(&cfg);
    p = pool_new(&cfg, NULL, 1, ev);
    t.kind = POOL_COMMAND;
    t.command = "sleep 1; exit 3";
    assert_int_equal(pool_start(p, &t, &e), 0);
    assert_int_equal(pool_wait(p, &r, &e), 1);
    code = r.exit_code;
    pool_result_free(&r);
    assert_int_equal(pool_wait(p, &r, &e), 0);
    pool_free(p);
    config_free(&cfg);
    return code;
}

static void test_tick(void **state)
{
    struct pool_events ev = { NULL, NULL, on_tick, 100, NULL };

    (void)state;
    assert_int_equal(proc_init(NULL), 0);
    ticks = 0;
    assert_int_equal(run_one(&ev), 3);
    /* about 10 in one second; a loaded machine may lose some, never gain many */
    assert_in_range(ticks, 5, 12);
}

static void test_no_tick(void **state)
{
    struct pool_events off = { NULL, NULL, on_tick, 0, NULL };

    (void)state;
    ticks = 0;
    assert_int_equal(run_one(&off), 3);
    assert_int_equal(run_one(NULL), 3);
    assert_int_equal(ticks, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exe_path),
        cmocka_unit_test(test_tick),
        cmocka_unit_test(test_no_tick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
