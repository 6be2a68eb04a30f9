/*
 * The trial pool: up to `slots` trials at once, each a child process in its own process group,
 * all waited on by one loop. `pvlab run`, `pvlab bisect` and the matrix run every trial through
 * it, so timeouts, interrupts, output and results are handled once.
 *
 * Two kinds of task:
 *   POOL_TRIAL    a trial_job (jobs/trial_job.h): the child is `pvlab trial <job options>`
 *                 started from an argv; it reports progress and one typed outcome as JSON
 *                 records on a pipe.
 *   POOL_COMMAND  a user's test command, like `git bisect run`: `sh -c COMMAND` with the
 *                 caller's environment plus the task's, arguments as "$1"..., run in the task's
 *                 directory, output to the task's log; its exit status is the outcome (0 pass,
 *                 125 skip, 1-127 fail, 128 and above, or a signal: stop).
 * Nothing of a task is ever pasted into a shell string: the command is the user's own line,
 * and everything pvlab adds (commit, paths) goes in arguments and the environment.
 *
 * A task that outlives its timeout is killed with its whole process group and ends `infra`.
 * proc_interrupt() (Ctrl-C) kills every task's group; pool_wait then returns what ended.
 * The pool is single-threaded; calls block only in pool_wait.
 */
#ifndef PVLAB_JOBS_POOL_H
#define PVLAB_JOBS_POOL_H

#include <sys/types.h>

#include "config/config.h"
#include "jobs/trial_job.h"
#include "util/err.h"

enum pool_kind { POOL_TRIAL, POOL_COMMAND };

struct pool_task { /* everything borrowed until pool_start returns */
    enum pool_kind kind;
    const struct trial_job *job; /* POOL_TRIAL */
    const char *command;         /* POOL_COMMAND: the user's command line */
    const char *const *args;     /* POOL_COMMAND: "$1"... (NULL-terminated, may be NULL) */
    const char *const *env;      /* extra NAME=value entries (NULL-terminated, may be NULL) */
    const char *cwd;             /* NULL = inherit */
    const char *log_path;        /* POOL_COMMAND: its stdout and stderr; NULL = none */
    int timeout_s;               /* 0 = none */
    void *tag;                   /* the caller's, given back with the result */
};

struct pool_result {
    void *tag;
    struct trial_outcome out; /* verdict, reason, counts...; out.stop: stop everything */
    int exit_code;            /* the child's: 0-255, 128 + signal, -1 unknown */
    int timed_out, interrupted;
    long long wall_ms;
    char *stderr_tail; /* the end of the child's stderr (malloc'd, may be empty) */
};

struct pool_events { /* every member may be NULL */
    /* a task's child started: pgid is its process group (a bisection records it) */
    void (*started)(void *ctx, void *tag, pid_t pgid);
    /* progress of a POOL_TRIAL task: stage, iterations done, evidence lines so far */
    void (*progress)(void *ctx, void *tag, const struct trial_progress *p);
    /* called about every tick_ms while pool_wait waits (a heartbeat; 0 = never) */
    void (*tick)(void *ctx);
    int tick_ms;
    void *ctx;
};

struct pool;

/*
 * A pool of `slots` (1..64) concurrent tasks for the configuration cfg (borrowed; its cache and
 * state directories are handed to every `pvlab trial` child), config_path the --config file to
 * pass on (may be NULL).
 */
struct pool *pool_new(const struct config *cfg, const char *config_path, int slots,
                      const struct pool_events *ev);
/*
 * What the pool execs as `pvlab trial`, from readlink(/proc/self/exe) (NULL: unknown, "pvlab"):
 * that path, or /proc/self/exe itself when the file was replaced since this process started
 * (a rebuild during a long matrix). Malloc'd.
 */
char *pool_exe_path(const char *link);
/* Free slots. */
int pool_idle(const struct pool *p);
/* Tasks running. */
int pool_busy(const struct pool *p);
/* Starts t in a free slot (the caller checks pool_idle). Returns 0, or -1 with e set. */
int pool_start(struct pool *p, const struct pool_task *t, struct err *e);
/*
 * Blocks until a running task ends and fills *r (free with pool_result_free). Returns 1 with a
 * result, 0 when no task is running, -1 on an error of the pool itself.
 */
int pool_wait(struct pool *p, struct pool_result *r, struct err *e);
/* Kills every running task's process group and forgets them. */
void pool_stop(struct pool *p);
/* pool_stop, then frees the pool. NULL is accepted. */
void pool_free(struct pool *p);
void pool_result_free(struct pool_result *r);
/* The verdict of a test command's exit status, as git bisect run reads it; *stop_r for >= 128. */
enum verdict_kind pool_command_verdict(int exit_code, int *stop_r);

#endif
