/*
 * On-demand bisection requests as they arrive (POST /api/v1/requests):
 *
 *   {"alias": "linux-stable", "good": "v6.1", "bad": "v6.2", "axis": "xen" | "linux" | "test-cmd",
 *    "xen": "4.17", "linux": "6.1", "repro": "fpu-leak", "options": {"iterations": 2000, ...},
 *    "confidence": 0.95, "find": "regression" | "fix"}
 *
 * Only an alias of the dashboard's configuration ([repos]) may be named: a path or a command
 * never comes from the web. good and bad are resolved with git in the alias's repository
 * before the request is queued, and must be in the order find says. xen, linux and repro are
 * plain names (Debian versions, a reproducer of the table), never provider specs (no file:,
 * git:); options are a fixed set with ranges. Every refusal says why.
 *
 * Blocks on git (a few rev-parse and merge-base calls).
 */
#ifndef PVLAB_REPORTER_DASH_REQUEST_H
#define PVLAB_REPORTER_DASH_REQUEST_H

#include <jansson.h>

#include "config/repos.h"
#include "util/err.h"

/*
 * Checks body; on success *spec_r is the request to store (new reference): the fields as
 * given plus good_sha and bad_sha. ERR_USAGE (the request's fault: answer 400) or another
 * code (the dashboard's: an alias whose repository cannot be read) with the reason.
 */
int dash_request_check(const json_t *body, const struct repos *repos, json_t **spec_r,
                       struct err *e);

#endif
