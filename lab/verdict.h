/*
 * Verdict of one trial from its console log (guest protocol in docs/architecture.md):
 *   pass  - a PVLAB-RESULT line, iterations > 0, no corruption evidence;
 *   fail  - corruption evidence: PVLAB-EVENT lines, a RESULT with corruptions, or guest kernel
 *           log lines about reproducer processes dying (segfault / general protection / trap),
 *           with or without a RESULT line (the bug can kill the reproducer's supervisor);
 *   infra - neither a RESULT nor evidence: boot hang, panic, timeout, QEMU error. Says nothing
 *           about the bug.
 *   skip / infra from a plug-in: its RESULT says "outcome":"skip" (exit 125, XTF 3) or "infra"
 *           (XTF 4 or 6, another code, a crash of a once-model check), unless there is evidence.
 * A trial without a RESULT line is never pass. Parsing is pure (no I/O) and unit-tested.
 *
 * domU trials (dom0's untagged BEGIN says "mode":"domus" and names the places): each domU's
 * console arrives as "PVLAB-DOMU <name> <line>"; each place gets the verdict above from its
 * own lines, and the trial fails when any place does (the reason names them), is infra when
 * any place gave no result or dom0's toolstack failed, and passes otherwise. places_json keeps
 * {"stages":[dom0's PVLAB-STAGE records],"places":[{name, verdict, reason, kernel, ...}]}.
 */
#ifndef PVLAB_LAB_VERDICT_H
#define PVLAB_LAB_VERDICT_H

#include <stddef.h>

#include "util/sv.h"

enum verdict_kind { VERDICT_PASS, VERDICT_FAIL, VERDICT_INFRA, VERDICT_SKIP };

/* What the trial runner knows besides the log. */
struct verdict_ctx {
    int timed_out;            /* the watchdog stopped QEMU */
    const char *timeout_what; /* "boot" or "run" */
    int timeout_s;
    int interrupted;          /* the user stopped pvlab */
    int log_truncated;        /* console flood hit the cap */
    const char *qemu_failure; /* non-NULL when QEMU itself failed: its status and stderr tail */
};

#define VERDICT_MAX_EVIDENCE 64

struct verdict {
    enum verdict_kind kind;
    char *reason; /* one line for humans */
    int saw_begin, saw_result, saw_end;
    int self_test;         /* the detector self-test injected the corruption */
    long long iterations;  /* from RESULT, else the last PROGRESS */
    long long corruptions; /* RESULT's count, or mismatch+death events without one */
    long long mismatches, deaths;
    long long klog_faults; /* kernel log lines about user processes faulting */
    long long events;      /* PVLAB-EVENT lines */
    struct sv evidence;    /* the first VERDICT_MAX_EVIDENCE evidence lines */
    char *result_json;     /* the RESULT payload, if any */
    char *guest_kernel;    /* from BEGIN */
    char *places_json;     /* domU trials only, else NULL */
    char *outcome;         /* a plug-in's RESULT "outcome" (pass/fail/skip/infra), else NULL */
    char *outcome_why;     /* its "why" and "last" output line ("exit 125 (untestable): ...") */
};

/* Parses a whole console log. v is overwritten; free with verdict_free. */
void verdict_parse(const char *log, size_t len, const struct verdict_ctx *ctx, struct verdict *v);
void verdict_free(struct verdict *v);
const char *verdict_name(enum verdict_kind k);
/* 1 when a console line is relayed from a domU (or dom0's reproducer) of a domU trial. */
int verdict_line_is_tagged(const char *line, size_t len);
/* Returns 1 if line (without newline) is a kernel report of a user process faulting. */
int verdict_is_klog_fault(const char *line, size_t len);

#endif
