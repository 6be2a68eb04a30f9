#include "lab/verdict.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/xalloc.h"

const char *verdict_name(enum verdict_kind k)
{
    switch (k) {
    case VERDICT_PASS: return "pass";
    case VERDICT_FAIL: return "fail";
    case VERDICT_INFRA: return "infra";
    case VERDICT_SKIP: return "skip";
    }
    return "?";
}

void verdict_free(struct verdict *v)
{
    free(v->reason);
    free(v->result_json);
    free(v->guest_kernel);
    sv_clear(&v->evidence);
    memset(v, 0, sizeof(*v));
}

static const char *memmem_str(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle));
}

/*
 * Matches "comm[pid]: segfault at", "traps: comm[pid] general protection", "traps: comm[pid]
 * trap invalid opcode" and friends. Only user processes get these lines, and the guest runs
 * nothing but the reproducer, so any of them is evidence.
 */
int verdict_is_klog_fault(const char *line, size_t len)
{
    const char *p;

    if ((p = memmem_str(line, len, "]: segfault at ")) && p > line)
        return 1;
    if ((p = memmem_str(line, len, "traps: ")) != NULL) {
        size_t rest = len - (size_t)(p - line);
        if (memmem_str(p, rest, "] general protection") || memmem_str(p, rest, "] trap ") ||
            memmem_str(p, rest, "] int3 "))
            return 1;
    }
    if (memmem_str(line, len, "]: bus error at ") || memmem_str(line, len, "] bus error "))
        return 1;
    return 0;
}

/* Copies the payload after "TAG " up to the end of line, trimmed. */
static char *payload_after(const char *tagpos, const char *end, const char *tag)
{
    const char *s = tagpos + strlen(tag);
    while (s < end && *s == ' ')
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    return xstrndup(s, (size_t)(end - s));
}

static void add_evidence(struct verdict *v, const char *line, size_t len)
{
    while (len && isspace((unsigned char)line[len - 1]))
        len--;
    if (v->evidence.n < VERDICT_MAX_EVIDENCE)
        sv_push_owned(&v->evidence, xstrndup(line, len));
}

/* Handles one PVLAB-EVENT payload. */
static void take_event(struct verdict *v, const char *json)
{
    struct json_flat j;
    const char *type;

    v->events++;
    if (json_flat_parse(json, &j, NULL) < 0) {
        v->mismatches++; /* an unreadable event is still an event: a mangled line */
        return;
    }
    type = json_flat_str(&j, "type");
    if (type && !strcmp(type, "mismatch"))
        v->mismatches++;
    else if (type && (!strcmp(type, "death") || !strcmp(type, "worker-death") ||
                      !strcmp(type, "supervisor-death")))
        v->deaths++;
    else
        v->mismatches++;
    if (json_flat_num(&j, "self_test", 0) != 0)
        v->self_test = 1;
    json_flat_free(&j);
}

static void take_result(struct verdict *v, const char *json)
{
    struct json_flat j;

    free(v->result_json);
    v->result_json = xstrdup(json);
    if (json_flat_parse(json, &j, NULL) < 0)
        return; /* saw_result stays 0: a garbled summary is no summary */
    v->saw_result = 1;
    v->iterations = (long long)json_flat_num(&j, "iterations", 0);
    v->corruptions = (long long)json_flat_num(&j, "corruptions", 0);
    if (json_flat_num(&j, "self_test", 0) != 0)
        v->self_test = 1;
    json_flat_free(&j);
}

static int has_panic(const char *log, size_t len)
{
    return memmem_str(log, len, "Kernel panic") || memmem_str(log, len, "Panic on CPU") ||
           memmem_str(log, len, "kernel BUG at") || memmem_str(log, len, "FATAL TRAP");
}

void verdict_parse(const char *log, size_t len, const struct verdict_ctx *ctx, struct verdict *v)
{
    const char *p = log, *end = log + len;
    char *guest_error = NULL;
    long long result_mismatches = -1, result_deaths = -1;

    memset(v, 0, sizeof(*v));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        const char *tag;

        if ((tag = memmem_str(p, n, "PVLAB-BEGIN")) != NULL) {
            char *js = payload_after(tag, eol, "PVLAB-BEGIN");
            struct json_flat j;
            v->saw_begin = 1;
            if (json_flat_parse(js, &j, NULL) == 0) {
                const char *k = json_flat_str(&j, "kernel");
                free(v->guest_kernel);
                v->guest_kernel = xstrdup(k);
                json_flat_free(&j);
            }
            free(js);
        } else if ((tag = memmem_str(p, n, "PVLAB-EVENT")) != NULL) {
            char *js = payload_after(tag, eol, "PVLAB-EVENT");
            take_event(v, js);
            add_evidence(v, tag, (size_t)(eol - tag));
            free(js);
        } else if ((tag = memmem_str(p, n, "PVLAB-RESULT")) != NULL) {
            char *js = payload_after(tag, eol, "PVLAB-RESULT");
            struct json_flat j;
            take_result(v, js);
            if (json_flat_parse(js, &j, NULL) == 0) {
                result_mismatches = (long long)json_flat_num(&j, "mismatches", -1);
                result_deaths = (long long)json_flat_num(&j, "deaths", -1);
                json_flat_free(&j);
            }
            free(js);
        } else if ((tag = memmem_str(p, n, "PVLAB-PROGRESS")) != NULL) {
            char *js = payload_after(tag, eol, "PVLAB-PROGRESS");
            struct json_flat j;
            if (!v->saw_result && json_flat_parse(js, &j, NULL) == 0) {
                v->iterations = (long long)json_flat_num(&j, "done", (double)v->iterations);
                json_flat_free(&j);
            }
            free(js);
        } else if ((tag = memmem_str(p, n, "PVLAB-ERROR")) != NULL) {
            free(guest_error);
            guest_error = payload_after(tag, eol, "PVLAB-ERROR");
        } else if (memmem_str(p, n, "PVLAB-END")) {
            v->saw_end = 1;
        } else if (verdict_is_klog_fault(p, n)) {
            v->klog_faults++;
            add_evidence(v, p, n);
        }
        p = nl ? nl + 1 : end;
    }

    if (v->saw_result) {
        if (result_mismatches >= 0)
            v->mismatches = result_mismatches > v->mismatches ? result_mismatches : v->mismatches;
        if (result_deaths >= 0)
            v->deaths = result_deaths > v->deaths ? result_deaths : v->deaths;
    } else {
        v->corruptions = v->mismatches + v->deaths;
    }
    if (v->corruptions < v->mismatches + v->deaths)
        v->corruptions = v->mismatches + v->deaths;

    if (v->corruptions > 0 || v->klog_faults > 0) {
        v->kind = VERDICT_FAIL;
        v->reason = xasprintf("%s%lld corruption%s (%lld mismatch, %lld abnormal death), %lld "
                              "kernel fault line%s%s",
                              v->self_test ? "detector self-test: " : "", v->corruptions,
                              v->corruptions == 1 ? "" : "s", v->mismatches, v->deaths,
                              v->klog_faults, v->klog_faults == 1 ? "" : "s",
                              v->saw_result ? "" : "; no summary line (the reproducer's "
                                                   "supervisor may have died)");
    } else if (v->saw_result && v->iterations > 0) {
        v->kind = VERDICT_PASS;
        v->reason = xasprintf("%lld iterations, no corruption", v->iterations);
    } else {
        v->kind = VERDICT_INFRA;
        if (ctx && ctx->interrupted)
            v->reason = xstrdup("interrupted by the user");
        else if (v->saw_result)
            v->reason = xstrdup("the reproducer ran 0 iterations");
        else if (guest_error)
            v->reason = xasprintf("guest error: %s", guest_error);
        else if (ctx && ctx->log_truncated)
            v->reason = xstrdup("console flood: the log reached its size cap");
        else if (ctx && ctx->timed_out)
            v->reason = xasprintf("timeout: no %s after %d s (%s stage)",
                                  v->saw_begin ? "PVLAB-RESULT" : "PVLAB-BEGIN", ctx->timeout_s,
                                  ctx->timeout_what ? ctx->timeout_what : "?");
        else if (has_panic(log, len))
            v->reason = xasprintf("panic %s the reproducer started",
                                  v->saw_begin ? "after" : "before");
        else if (ctx && ctx->qemu_failure)
            v->reason = xasprintf("QEMU failed: %s", ctx->qemu_failure);
        else if (!v->saw_begin)
            v->reason = xstrdup("the guest never started the reproducer (no PVLAB-BEGIN line)");
        else
            v->reason = xstrdup("no PVLAB-RESULT line");
    }
    free(guest_error);
}
