/*
 * The dashboard's request handling, independent of the HTTP library: a request as data in, a
 * response as data out (the server, pvlab publish and the tests all call dash_handle).
 *
 * Reads are public. Every write needs "Authorization: Bearer TOKEN" with a token of the
 * database (401 otherwise, nothing stored). Bodies are JSON parsed with jansson (400 with what
 * is wrong and where). Unknown paths are 404, a known path with another method 405. Errors of
 * /api/ paths are JSON {"ok": false, "error": "..."}, of pages an HTML page.
 *
 *   GET  /api/v1/runs | matrices | bisects      ?lab= &name= &limit= (1..1000) &offset=
 *        -> {"total": N, "items": [{"id", "kind", "lab", "local_id", "name", "status",
 *            "verdict", "created", "received", "summary", "regressions", "url"}]}
 *   GET  /api/v1/runs/LAB/N (matrices, bisects)  -> the document as posted
 *   GET  /api/v1/results/LAB/KIND/N              -> {"kind", "id", "lab", "received", "doc"}
 *   POST /api/v1/results                         -> 201 (new) / 200 (replaced) {"ok", "id"}
 *   GET  /api/v1/requests[?limit=]               -> {"total": N, "items": [request...]}
 *   GET  /api/v1/requests/N                      -> request
 *   POST /api/v1/requests                        -> 201 {"ok": true, "id": N, "url"}
 *   POST /api/v1/requests/claim                  -> 200 request (leased) | 204 none
 *   POST /api/v1/requests/N/progress             -> 200 {"ok", "id"} (any JSON object)
 *   POST /api/v1/requests/N/done                 -> 200 {"ok", "id", "state"}
 *        body {"outcome": "...", "bisect": "<lab>/bisect/<n>", "reason": "..."}
 *
 * A request as JSON: {"id", "state", "created", "by", "alias", "good", "bad", "good_sha",
 * "bad_sha", "axis", "find", "xen", "linux", "repro", "options", "confidence" (as requested),
 * "worker", "claimed", "lease_until" (unix s), "progress", "progress_at", "outcome",
 * "bisect", "reason", "finished"}.
 *
 * Every call blocks on the database (and on git for a new request).
 */
#ifndef PVLAB_REPORTER_DASH_API_H
#define PVLAB_REPORTER_DASH_API_H

#include <stddef.h>

#include "config/repos.h"
#include "reporter/dash_db.h"
#include "util/buf.h"

#define DASH_LEASE_S_DEFAULT 600
#define DASH_PROGRESS_MAX (64u << 10)

struct dash_ctx {
    struct dash_db *db;        /* this thread's connection */
    const struct repos *repos; /* aliases for requests and commit links; NULL: none */
    int lease_s;               /* how long a claim holds a request */
};

struct dash_req {
    const char *method;                                 /* "GET", "HEAD", "POST" ... */
    const char *path;                                   /* decoded, without the query */
    const char *(*arg)(void *arg_ctx, const char *key); /* query argument or NULL; may be NULL */
    void *arg_ctx;
    const char *authorization; /* the Authorization header or NULL */
    const char *body;
    size_t body_len;
};

struct dash_resp {
    int status;
    const char *content_type; /* static string */
    struct buf body;
    char *disposition;    /* Content-Disposition value or NULL (malloc'd) */
    const char *allow;    /* Allow header of a 405, or NULL */
    int www_authenticate; /* 401: send WWW-Authenticate: Bearer */
    int wrote;            /* the request changed the database (caches are stale) */
};

void dash_resp_init(struct dash_resp *rs);
void dash_resp_release(struct dash_resp *rs);

/*
 * The token of an Authorization header: 1 valid (its name in *name_r, malloc'd, when name_r
 * is not NULL), 0 missing or wrong, -1 database error (e set).
 */
int dash_auth(struct dash_db *db, const char *authorization, char **name_r, struct err *e);
/* Handles one request; rs is always filled (errors become 4xx / 5xx responses). */
void dash_handle(const struct dash_ctx *c, const struct dash_req *rq, struct dash_resp *rs);

#endif
