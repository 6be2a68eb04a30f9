/*
 * A matrix file: the axes of a nightly (or any) regression matrix, INI like the rest of config/.
 *
 *   [matrix]
 *   name = nightly              # shown in tables, used to find the previous run to compare with
 *   trials = 2                  # boots per cell (each one verdict)
 *   iterations = 2000           # reproducer iterations per boot
 *   [xen]                       # label = spec (anything `pvlab run --xen` takes)
 *   4.17 = 4.17
 *   [linux]                     # label = spec (anything `pvlab run --linux` takes)
 *   6.1 = 6.1
 *   [repro]                     # label = reproducer [options]
 *   fpu-leak = fpu-leak
 *   fpu-leak-lazy = fpu-leak --lazy-fpu --iterations 3000
 *   [exclude]                   # name = conditions on labels (shell globs), all must match
 *   old-pair = xen=4.14 linux=6.12
 *   [bisect]                    # optional: where a REGRESSION on an axis can be bisected
 *   linux = linux-stable        # axis = repository alias (see the dashboard's [repos])
 *   [sources]                   # optional: where each git: spec's tree comes from
 *   linux-3.10.108 = https://github.com/OWNER/linux-3.10.108 COMMIT TREE
 *
 * Reproducer options: --lazy-fpu, --iterations N, --trials N, --self-test-corrupt R,
 * --dom0-args WORD, --workers N; domU cells: --domus N, --domu-linux SPEC (repeatable, one per
 * domU), --in dom0,domu (docs/domu.md). Every error names the file, the line and the key.
 */
#ifndef PVLAB_CONFIG_MATRIX_H
#define PVLAB_CONFIG_MATRIX_H

#include <stddef.h>

#include "util/err.h"

struct matrix_axis_entry {
    char *label;
    char *spec;
    int line;
};

struct matrix_repro {
    char *label;
    char *name; /* fpu-leak */
    int lazy_fpu;
    char *amplifiers; /* --amplifier LIST, NULL = none */
    long iterations;  /* 0 = the matrix's */
    int trials;       /* 0 = the matrix's */
    double self_test_corrupt;
    int workers;
    char *dom0_args;  /* NULL = none */
    int domus;        /* 0: the reproducer runs in dom0 */
    char *domu_linux; /* space-separated specs, one per domU (NULL = the dom0 kernel) */
    int in_dom0;
    int line;
};

struct matrix_exclude {
    char *name;
    char *xen, *linux_, *repro; /* globs on labels, NULL = any */
    int line;
};

/* Where a git: source comes from: [sources] NAME = URL COMMIT TREE (provenance, checked). */
struct matrix_source {
    char *name;   /* the clone's directory name: git:<dir>/NAME@COMMIT */
    char *url;    /* the public repository it was cloned from */
    char *commit; /* the full commit id the specs name */
    char *tree;   /* that commit's tree id: the content, whatever the repository */
    int line;
};

struct matrix_def {
    char *path;
    char *name;
    int trials;
    long iterations;
    struct matrix_axis_entry *xen, *linux_;
    size_t nxen, nlinux;
    struct matrix_repro *repro;
    size_t nrepro;
    struct matrix_exclude *excl;
    size_t nexcl;
    char *bisect_xen, *bisect_linux; /* repository aliases for REGRESSION bisections */
    struct matrix_source *src;
    size_t nsrc;
};

/* One cell of the expanded matrix (pointers into the def). */
struct matrix_cell {
    const struct matrix_axis_entry *xen, *linux_;
    const struct matrix_repro *repro;
    int trials;
    long iterations;
};

/* Parses path into *m (free with matrix_def_free). ERR_CONFIG "file:line: [section] key: ...". */
int matrix_load(const char *path, struct matrix_def *m, struct err *e);
void matrix_def_free(struct matrix_def *m);
/*
 * The cells of m in a stable order (xen, then linux, then repro, as written) without the
 * excluded ones, in a malloc'd array. An empty matrix is an error (ERR_CONFIG naming the
 * exclusions that emptied it).
 */
int matrix_cells(const struct matrix_def *m, struct matrix_cell **cells_r, size_t *n_r,
                 struct err *e);

#endif
