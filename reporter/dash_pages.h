/*
 * The dashboard's HTML pages, rendered on the server from the dashboard database (no script:
 * they work in any browser, and the same functions write pvlab publish's static files).
 *
 *   /                          latest matrix per name, recent runs, bisections, requests
 *   /matrix/LAB/N              compatibility tables with each cell's history
 *   /matrix/LAB/latest/NAME    the newest matrix of that name
 *   /nightly[/LAB/NAME]        REGRESSION / FIXED / heisenbug per night
 *   /run/LAB/N                 configuration, artifacts, host, trials, evidence, consoles
 *   /run/LAB/N/log/I           trial I's console as text (dash_run_log)
 *   /bisect/LAB/N              range, steps, the leading candidate's P as a chart, answer
 *   /requests, /request/N      on-demand bisection requests and their state
 *
 * Each function appends a whole page to h->b and returns 0, or -1 with e set (ERR_NOTFOUND:
 * no such result; the caller answers 404). Every call blocks on the database.
 */
#ifndef PVLAB_REPORTER_DASH_PAGES_H
#define PVLAB_REPORTER_DASH_PAGES_H

#include "reporter/dash_db.h"
#include "reporter/dash_html.h"
#include "util/buf.h"
#include "util/err.h"

/* Past runs of the same name shown in each cell's history strip. */
#define DASH_HIST_NIGHTS 10
/* The end of a console shown on a run page (the download has all the dashboard holds). */
#define DASH_CONSOLE_SHOWN (64u << 10)

int dash_page_index(const struct html *h, struct dash_db *db, struct err *e);
int dash_page_matrix(const struct html *h, struct dash_db *db, const char *lab, long long id,
                     struct err *e);
int dash_page_matrix_latest(const struct html *h, struct dash_db *db, const char *lab,
                            const char *name, struct err *e);
/* lab and name NULL: every matrix. */
int dash_page_nightly(const struct html *h, struct dash_db *db, const char *lab, const char *name,
                      struct err *e);
int dash_page_run(const struct html *h, struct dash_db *db, const char *lab, long long id,
                  struct err *e);
/* Trial idx's console text of a run (ERR_NOTFOUND: no such run, trial or console). */
int dash_run_log(struct dash_db *db, const char *lab, long long id, long long idx, struct buf *out,
                 struct err *e);
int dash_page_bisect(const struct html *h, struct dash_db *db, const char *lab, long long id,
                     struct err *e);
int dash_page_requests(const struct html *h, struct dash_db *db, struct err *e);
int dash_page_request(const struct html *h, struct dash_db *db, long long id, struct err *e);
/* A page for an error (404 and the like): the message, escaped. */
void dash_page_error(const struct html *h, int status, const char *msg);

#endif
