/*
 * The dashboard's own SQLite database (pvlab serve, pvlab publish): results posted by labs,
 * the tokens allowed to post, and on-demand bisection requests. Not the lab's store: a
 * dashboard may serve many labs and never runs anything.
 *
 *   results   one row per result id "<lab>/<kind>/<local id>" (a second post replaces the
 *             document), with the columns the pages list and sort by (name, status, created,
 *             verdict, a one-line summary) taken from the document at ingest, and the JSON text
 *   cells     a matrix result's cells (labels, verdict, change, run id): the history of a cell
 *             and the nightly changes are read from here without parsing old documents
 *   tokens    name, sha256 of the token, created: the token itself is never stored
 *   requests  on-demand bisections: queued -> running (leased by a worker until lease_until;
 *             an expired lease makes it claimable again) -> done | refused
 *
 * WAL mode, foreign keys, busy timeout 5 s. One struct dash_db per thread (a connection is
 * never shared); every call blocks on SQLite. Errors: ERR_DB (ERR_IO, ERR_NOSPACE for the
 * file system), ERR_NOTFOUND for unknown ids, ERR_BUSY for a request in the wrong state.
 *
 * Ownership: `*_info` records going in are borrowed; rows coming out are owned by the caller
 * and freed with the matching `*_free`. NULL strings are SQL NULL both ways.
 */
#ifndef PVLAB_REPORTER_DASH_DB_H
#define PVLAB_REPORTER_DASH_DB_H

#include <stddef.h>

#include "util/err.h"
#include "util/sha256.h"

struct dash_db;

enum dash_kind { DASH_RUN, DASH_MATRIX, DASH_BISECT };

/* "run", "matrix", "bisect". */
const char *dash_kind_name(enum dash_kind k);
/* Parses a kind name; 0 or -1. */
int dash_kind_parse(const char *s, enum dash_kind *k_r);

/* 1 when s can name a lab: 1..64 of A-Z a-z 0-9 . _ -, not starting with '.' or '-'. */
int dash_lab_valid(const char *s);
/* Parses a result id "<lab>/<kind>/<local id>" (lab_r holds 65 bytes); 0 or -1. */
int dash_result_id_parse(const char *s, char *lab_r, enum dash_kind *kind_r, long long *id_r);

/* Opens (creating the file, its directory and the schema) the database at path. */
int dash_db_open(const char *path, struct dash_db **db_r, struct err *e);
/* NULL accepted. */
void dash_db_close(struct dash_db *db);
const char *dash_db_path(const struct dash_db *db);

/* ---- tokens ---- */

/* sha256 hex of a token as presented (what the tokens table keeps). */
void dash_token_hash(const char *token, char out[SHA256_HEX_LEN + 1]);
/* 1 when name can name a token (1..64 of A-Z a-z 0-9 . _ - @). */
int dash_token_name_valid(const char *name);
/*
 * Makes a new random token for name (replacing name's old one), stores its hash and returns it
 * in *token_r (malloc'd, "pvl_" + 64 hex digits): the only time it exists in clear.
 */
int dash_token_add(struct dash_db *db, const char *name, char **token_r, struct err *e);
/* Removes name's token; ERR_NOTFOUND when it has none. */
int dash_token_revoke(struct dash_db *db, const char *name, struct err *e);
/*
 * 1 when token is valid (its name in *name_r when name_r is not NULL, malloc'd), 0 when not
 * (NULL or empty token included), -1 on a database error.
 */
int dash_token_check(struct dash_db *db, const char *token, char **name_r, struct err *e);

/* ---- results ---- */

struct dash_cell_info {
    const char *xen, *linux_, *repro, *verdict, *change;
    long long run_id; /* 0: none */
};

struct dash_result_info {
    enum dash_kind kind;
    const char *lab;
    long long local_id;
    const char *name, *status, *created, *verdict, *summary;
    const char *changes_json; /* matrix: the document's "changes" object, or NULL */
    int regressions;          /* matrix: REGRESSION cells */
    long long request_id;     /* bisect: the on-demand request it answers, 0: none */
    const char *posted_by;    /* token name */
    const char *doc;          /* the document's JSON text */
    const struct dash_cell_info *cells;
    size_t ncells;
};

/* Stores r (replacing an earlier post of the same id, cells included) in one transaction;
 * *created_r = 1 when the id is new. */
int dash_db_put(struct dash_db *db, const struct dash_result_info *r, int *created_r,
                struct err *e);

struct dash_row {
    enum dash_kind kind;
    char *lab;
    long long local_id;
    char *name, *status, *created, *received, *verdict, *summary, *changes_json;
    int regressions;
    long long request_id;
};
void dash_row_free(struct dash_row *r);
void dash_rows_free(struct dash_row *v, size_t n);

/* Filters of a list; zero fields mean "any"; limit 0 = 50. Newest (created) first. */
struct dash_query {
    const char *lab;
    const char *name;
    long long request_id;
    int limit, offset;
};
int dash_db_list(struct dash_db *db, enum dash_kind kind, const struct dash_query *q,
                 struct dash_row **rows_r, size_t *n_r, struct err *e);
int dash_db_count(struct dash_db *db, enum dash_kind kind, const struct dash_query *q,
                  long long *n_r, struct err *e);
/* One result: its row (row_r may be NULL) and document (doc_r may be NULL); ERR_NOTFOUND. */
int dash_db_get(struct dash_db *db, enum dash_kind kind, const char *lab, long long local_id,
                struct dash_row *row_r, char **doc_r, struct err *e);
/* The newest matrix result of (lab, name); ERR_NOTFOUND. */
int dash_db_latest(struct dash_db *db, const char *lab, const char *name, struct dash_row *row_r,
                   char **doc_r, struct err *e);
/* The newest matrix result of every (lab, name), newest first. */
int dash_db_latest_names(struct dash_db *db, struct dash_row **rows_r, size_t *n_r, struct err *e);
/*
 * The matrix results of the same (lab, name) as m, m itself first, then older ones: at most
 * max rows, newest first (the columns of a cell's history).
 */
int dash_db_nights(struct dash_db *db, const struct dash_row *m, int max, struct dash_row **rows_r,
                   size_t *n_r, struct err *e);

struct dash_cell {
    char *xen, *linux_, *repro, *verdict, *change;
    long long run_id;
};
void dash_cells_free(struct dash_cell *v, size_t n);
/*
 * The cells of a matrix result; notable_only: only REGRESSION, FIXED and heisenbug cells.
 * In the document's order.
 */
int dash_db_cells(struct dash_db *db, const char *lab, long long local_id, int notable_only,
                  struct dash_cell **cells_r, size_t *n_r, struct err *e);
/* The same without copies: fn sees each cell (its strings valid during the call only). */
typedef void (*dash_cell_fn)(void *ctx, const struct dash_cell *c);
int dash_db_cells_each(struct dash_db *db, const char *lab, long long local_id, int notable_only,
                       dash_cell_fn fn, void *ctx, struct err *e);

/* ---- on-demand bisection requests ---- */

struct dash_request_info {
    const char *alias, *good, *bad, *axis, *find;
    const char *spec_json; /* the whole request as accepted, with good_sha and bad_sha */
    const char *by;        /* token name */
};

struct dash_request {
    long long id;
    char *created, *state, *alias, *good, *bad, *axis, *find, *spec_json, *by;
    char *worker, *claimed, *progress_json, *progress_at, *outcome, *bisect, *reason, *finished;
    long long lease_until; /* unix seconds; 0: not leased */
};
void dash_request_free(struct dash_request *r);
void dash_requests_free(struct dash_request *v, size_t n);

int dash_db_request_add(struct dash_db *db, const struct dash_request_info *r, long long *id_r,
                        struct err *e);
/*
 * Leases the oldest request that is queued, or running with a lease expired before now, to
 * worker until now + lease_s. Returns 1 with *r_r filled, 0 when there is none, -1 on error.
 */
int dash_db_request_claim(struct dash_db *db, const char *worker, long long now, int lease_s,
                          struct dash_request *r_r, struct err *e);
/* Records a running request's progress (JSON text) and extends its lease to now + lease_s;
 * ERR_NOTFOUND, ERR_BUSY when it is not running. */
int dash_db_request_progress(struct dash_db *db, long long id, const char *progress_json,
                             long long now, int lease_s, struct err *e);
/* Ends a running request: state "refused" when outcome is "refused", else "done". */
int dash_db_request_done(struct dash_db *db, long long id, const char *outcome, const char *bisect,
                         const char *reason, struct err *e);
int dash_db_request_get(struct dash_db *db, long long id, struct dash_request *r_r, struct err *e);
/* Newest first; limit 0 = 50. */
int dash_db_request_list(struct dash_db *db, int limit, struct dash_request **v_r, size_t *n_r,
                         struct err *e);
int dash_db_request_count(struct dash_db *db, long long *n_r, struct err *e);

#endif
