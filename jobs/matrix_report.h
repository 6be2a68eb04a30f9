/*
 * A matrix run as a compatibility table, and what changed since another run of it, in osstest's
 * words. Per cell: how many boots saw corruption (with the 95% interval of that share), the
 * per-iteration rate with an interval that respects boots (jobs/run.h: run_rates), infra
 * trials apart. Changes are decided on counts and bounds, never on one lucky pass:
 *
 *   previous        now            change
 *   (any)           no pass/fail   could-not-test  (infra only: says nothing)
 *   none            clean          new             (no baseline)
 *   none            corruption     never-pass
 *   clean           clean          pass
 *   corruption      corruption     never-pass      (corrupted in every run compared)
 *   clean           corruption     REGRESSION if the previous clean iterations would have shown
 *                                  corruption at the present rate's lower bound with P >= 0.95,
 *                                  else heisenbug
 *   corruption      clean          FIXED under the same test the other way round, else
 *                                  heisenbug (too rare to call a change)
 */
#ifndef PVLAB_JOBS_MATRIX_REPORT_H
#define PVLAB_JOBS_MATRIX_REPORT_H

#include "jobs/run.h"
#include "jobs/store.h"
#include "util/buf.h"
#include "util/err.h"

enum cell_state { CELL_UNTESTED, CELL_CLEAN, CELL_CORRUPT };

enum cell_change {
    CHANGE_COULD_NOT_TEST,
    CHANGE_NEW,
    CHANGE_PASS,
    CHANGE_NEVER_PASS,
    CHANGE_REGRESSION,
    CHANGE_FIXED,
    CHANGE_HEISENBUG,
};

/*
 * What differs between the run of a cell and the run it is compared with, and, when exactly
 * one image (Xen or Linux) changed and the matrix names a repository for that axis, the
 * bisection that would find the commit: good/bad are upstream revisions derived from the
 * Debian versions (debian_upstream_rev).
 */
struct cell_cause {
    char *changed;     /* "linux 6.1.192-3 -> 6.1.195-1; qemu 7.2.0 -> 7.2.1"; "" = nothing */
    char *axis, *repo; /* the bisection, or all NULL */
    char *good, *bad;
    const char *find; /* "regression" | "fix" */
    char *other_spec; /* the other axis' spec, kept fixed */
};

struct cell_report {
    struct matrix_cell_rec c; /* borrowed from the report's cells */
    struct run_rates r;
    enum cell_state state;
    long infra, planned; /* infra trials recorded; trials planned */
    long skipped;        /* trials recorded as skip: nothing could be booted */
    char *untestable;    /* the first skipped trial's reason (a source that does not build) */
    int has_prev;
    struct run_rates prev;
    enum cell_state prev_state;
    long long prev_run_id;
    enum cell_change change;
    struct cell_cause cause; /* REGRESSION and FIXED cells */
    /* what booted: "package version sha256", NULL before the cell's first trial */
    char *booted_xen, *booted_linux, *booted_host;
};

struct matrix_report {
    struct matrix_rec m; /* the first run's (with several: the one named first) */
    long long against;   /* the run compared with, 0 = none */
    long long *from;     /* the runs the cells come from, as named (nfrom >= 1) */
    size_t nfrom;
    long long *cell_from; /* per cell: the run it comes from */
    struct matrix_cell_rec *cells;
    size_t ncells;
    struct cell_report *cr;
    long changes[CHANGE_HEISENBUG + 1];
};

/* Builds the report of matrix id against matrix `against` (0: none; -1: the previous complete
 * run of the same name). Free with matrix_report_free. */
int matrix_report_build(struct store *st, long long id, long long against,
                        struct matrix_report *rep, struct err *e);
/*
 * One table from several runs of the same matrix file (slices run with --only, or re-runs):
 * every cell of each, and for a cell run in more than one, the run named last. With several
 * runs the Xen and Linux labels are ordered by version, and against must be 0. n == 1 is
 * matrix_report_build(st, ids[0], against, ...).
 */
int matrix_report_build_many(struct store *st, const long long *ids, size_t n, long long against,
                             struct matrix_report *rep, struct err *e);
void matrix_report_free(struct matrix_report *rep);
/* strcmp with digit runs compared as numbers: "6.1" < "6.12", "2.6.39.4" < "3.4.113". */
int label_cmp(const char *a, const char *b);
const char *cell_change_name(enum cell_change c);
/* Pure: the change between two cells' states and rates (the table above). */
enum cell_change cell_classify(int has_prev, enum cell_state ps, const struct run_rates *p,
                               enum cell_state cs, const struct run_rates *c);

/*
 * The upstream git revision of a Debian package version of an axis ("xen" or "linux"):
 * Linux "6.1.192-3" -> "v6.1.192", "6.1.0-1" -> "v6.1", "6.13~rc5-1~exp1" -> "v6.13-rc5";
 * Xen "4.17.7+13-g2445b30a44-0+deb12u1" -> "2445b30a44" (the commit Debian packaged),
 * "4.17.0-1" -> "RELEASE-4.17.0". Returns 0, or -1 when the version has no such form.
 */
int debian_upstream_rev(const char *axis, const char *version, char *out, size_t n);

/* Whether the cell's reproducer runs with lazy FPU switching (its options). */
int cell_lazy_fpu(const struct cell_report *c);
/* The `pvlab bisect start` command line of a cell with a bisection (cause.axis set). */
void cell_bisect_cmd(const struct cell_report *c, struct buf *out);

/* The tables: text for a terminal, Markdown to publish, JSON for the dashboard. */
void matrix_report_text(const struct matrix_report *rep, struct buf *out);
void matrix_report_md(const struct matrix_report *rep, struct buf *out);
void matrix_report_json(const struct matrix_report *rep, struct buf *out);

#endif
