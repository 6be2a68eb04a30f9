/*
 * The reporter: posting the lab's results to the dashboard (pvlab serve) with libcurl, through
 * an on-disk spool so nothing is lost while the dashboard is down.
 *
 *   spool      <state_dir>/spool/NNNNNNNN-<kind>-<local id>.json, one envelope a file
 *              ({"kind", "id": "<lab>/<kind>/<local id>", "lab", "doc"}), written atomically;
 *              sent in order, each removed once the dashboard has stored it (HTTP 200/201:
 *              the dashboard stores one row per id, so a resend after a crash stores one).
 *   post       POST /api/v1/results with the bearer token; a network error or a 5xx is retried
 *              with back-off (1 s, 2 s, 4 s ...); a 4xx is the envelope's fault (its file is
 *              moved aside to spool/rejected/ with the dashboard's message, and the rest goes on).
 *
 * Every call blocks on the network for at most timeout_s per attempt.
 */
#ifndef PVLAB_REPORTER_CLIENT_H
#define PVLAB_REPORTER_CLIENT_H

#include "config/config.h"
#include "jobs/matrix_report.h"
#include "jobs/store.h"
#include "util/buf.h"
#include "util/err.h"

struct reporter {
    const char *url;   /* http://host:port, no trailing path */
    const char *token; /* may be NULL (reads only) */
    const char *lab;   /* the name results are posted under */
    int timeout_s, retries;
    const char *spool_dir;
};

/* The reporter of the configuration (url_override wins over [reporter] url; both NULL: the
 * reporter has no url and only spools). Strings are owned by cfg or the caller. lab_buf keeps
 * the host name when [reporter] lab is empty. */
void reporter_init(const struct config *cfg, const char *url_override, char *lab_buf,
                   size_t lab_size, char *spool_buf, size_t spool_size, struct reporter *r);

/*
 * One HTTP request to the dashboard: method "GET" or "POST", path "/api/v1/...", body (POST,
 * may be NULL). Retries network failures and 5xx. *status_r gets the final HTTP status; the
 * response body is appended to resp (may be NULL). Returns 0 when a response arrived (whatever
 * its status), -1 when none did (ERR_NET, with curl's reason).
 */
int reporter_http(const struct reporter *r, const char *method, const char *path, const char *body,
                  long *status_r, struct buf *resp, struct err *e);

/* Puts one result in the spool (the document is built by the caller). */
int reporter_spool_add(const struct reporter *r, const char *kind, long long local_id,
                       const char *doc_json, struct err *e);
/*
 * Sends what the spool holds, oldest first; stops at the first that cannot be delivered (the
 * dashboard down: the rest keep their order). *sent_r and *left_r count files.
 */
int reporter_flush(const struct reporter *r, int *sent_r, int *left_r, struct err *e);

/*
 * Spools every finished run, matrix and bisection of the store not spooled before (the store
 * remembers which: table reported), each with its full document. Returns how many, or -1.
 */
int reporter_enqueue_new(const struct reporter *r, struct store *st, struct err *e);
/* Spools one result now (kind "run", "matrix", "bisect"); used as each one ends. */
int reporter_enqueue(const struct reporter *r, struct store *st, const char *kind,
                     long long local_id, struct err *e);

/* The dashboard request (POST /api/v1/requests) that bisects a cell's change (cause.axis set):
 * {"alias", "good", "bad", "axis", "find", "xen"|"linux", "repro", "options"}. */
void reporter_bisect_request(const struct cell_report *c, struct buf *out);
/*
 * Asks the dashboard to bisect every REGRESSION and FIXED cell of rep that names its
 * bisection (one image changed, a repository for its axis). say (may be NULL) gets one line
 * a cell: the request's id, or the dashboard's reason for refusing it. Returns how many were
 * queued, or -1 when the dashboard cannot be reached (e set).
 */
int reporter_request_bisections(const struct reporter *r, const struct matrix_report *rep,
                                void (*say)(void *ctx, const char *line), void *ctx, struct err *e);

#endif
