/*
 * The probability chart of a bisection as inline SVG (no script, no external file): P of the
 * leading candidate after each trial, with the confidence the bisection stops at as a dashed
 * line. Pure: appends to a buffer.
 */
#ifndef PVLAB_REPORTER_DASH_SVG_H
#define PVLAB_REPORTER_DASH_SVG_H

#include <stddef.h>

#include "util/buf.h"

/* Geometry of the chart (viewBox units), exported for tests. */
#define SVG_W 640
#define SVG_H 220
#define SVG_ML 44 /* left margin: the P axis labels */
#define SVG_MR 12
#define SVG_MT 12
#define SVG_MB 34 /* bottom margin: the trial axis */

/*
 * Appends an <svg> line chart of p[0..n-1] (probabilities; NaN = no value, clamped to [0, 1])
 * against the trial numbers seq[0..n-1] (NULL: 1..n), a dashed line at level (0: none), and
 * title as its accessible name (escaped). Points are at x = ML + i * (W - ML - MR) / (n - 1)
 * (the middle when n == 1) and y = MT + (1 - p) * (H - MT - MB), printed with one decimal.
 */
void svg_prob_chart(struct buf *out, const double *p, const long long *seq, size_t n, double level,
                    const char *title);

#endif
