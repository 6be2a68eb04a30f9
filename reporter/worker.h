/*
 * The lab's side of on-demand bisections: `pvlab worker` claims requests from the dashboard
 * (POST /api/v1/requests/claim), runs each as a pvlab bisection on this lab, posts progress
 * while it runs (which renews the claim's lease) and the outcome at the end, with the
 * bisection's full document through the reporter's spool.
 *
 * A request names its repository only by alias; the path (and, for axis "test-cmd", the test
 * command) come from this lab's own [repos] / [repo_test], never from the request. The revisions
 * used are the commit ids the dashboard resolved (good_sha, bad_sha), checked to exist here.
 *
 * Crash safety: the progress posted names this lab and its local bisection id. A worker that
 * dies leaves the request's lease to expire; the next claim of it by this lab finds that id in
 * the request's progress and resumes the stored bisection (no trial repeated or lost) instead of
 * starting again; another lab starts a bisection of its own.
 */
#ifndef PVLAB_REPORTER_WORKER_H
#define PVLAB_REPORTER_WORKER_H

#include <jansson.h>

#include "config/config.h"
#include "jobs/bisect_run.h"
#include "jobs/store.h"
#include "reporter/client.h"
#include "util/err.h"

struct worker_opts {
    int once;          /* handle at most one request, then return (none queued: return) */
    int poll_s;        /* wait between claims when the queue is empty (default 30) */
    int heartbeat_s;   /* progress at least this often while a trial runs (default 60) */
    long max_requests; /* 0 = no limit */
};

struct worker_events {
    void (*line)(void *ctx, const char *line); /* what the worker does, one line at a time */
    void *ctx;
};

/*
 * Turns a claimed request (the dashboard's JSON) into a bisection request of this lab.
 * Strings in rq point into req or into cfg; good is pushed onto rq->good. ERR_USAGE with the
 * reason when this lab cannot run it (unknown alias, no test command, bad field): the worker
 * refuses such a request with that reason.
 */
int worker_request(const struct config *cfg, const json_t *req, struct bisect_request *rq,
                   struct err *e);

/*
 * Claims and runs requests until the queue is empty (once), max_requests are done, or
 * proc_interrupt(). Returns the number handled, or -1 (e set: no dashboard, a bad token, Ctrl-C
 * as ERR_INTERRUPTED).
 */
int worker_run(const struct config *cfg, const char *config_path, struct store *st,
               const struct reporter *r, const struct worker_opts *o,
               const struct worker_events *ev, struct err *e);

#endif
