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
    free(v->places_json);
    free(v->outcome);
    free(v->outcome_why);
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

    if (json_flat_parse(json, &j, NULL) < 0) {
        v->events++;
        v->mismatches++; /* an unreadable event is still an event: a mangled line */
        return;
    }
    type = json_flat_str(&j, "type");
    if (!type || strcmp(type, "evidence")) { /* a plug-in's output line counts nothing itself */
        v->events++;
        if (type && (!strcmp(type, "death") || !strcmp(type, "worker-death") ||
                     !strcmp(type, "supervisor-death")))
            v->deaths++;
        else
            v->mismatches++; /* "mismatch", "check-failed", and anything unknown */
    }
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
    free(v->outcome);
    free(v->outcome_why);
    v->outcome = json_flat_str(&j, "outcome") ? xstrdup(json_flat_str(&j, "outcome")) : NULL;
    v->outcome_why = xasprintf("%s%s%s", json_flat_str(&j, "why") ? json_flat_str(&j, "why") : "",
                               json_flat_str(&j, "last") ? ": " : "",
                               json_flat_str(&j, "last") ? json_flat_str(&j, "last") : "");
    json_flat_free(&j);
}

static int has_panic(const char *log, size_t len)
{
    return memmem_str(log, len, "Kernel panic") || memmem_str(log, len, "Panic on CPU") ||
           memmem_str(log, len, "kernel BUG at") || memmem_str(log, len, "FATAL TRAP");
}

/* The verdict of one reproducer's console stream (dom0's, or one place's of a domU trial). */
static void parse_one(const char *log, size_t len, const struct verdict_ctx *ctx, struct verdict *v)
{
    const char *p = log, *end = log + len;
    char *guest_error = NULL, *early_fault = NULL;
    long long result_mismatches = -1, result_deaths = -1, early_faults = 0;

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
            if (!v->saw_begin && !early_faults++)
                early_fault = xstrndup(p, n);
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

    if (!v->saw_begin && !v->corruptions && v->klog_faults && v->klog_faults == early_faults) {
        /* every fault came before the reproducer began: the guest's own start-up failed (an old
         * kernel the guest's userspace cannot run on, say), which says nothing of the bug */
        v->kind = VERDICT_INFRA;
        v->reason = xasprintf("a process faulted before the reproducer started: %s", early_fault);
    } else if (v->corruptions > 0 || v->klog_faults > 0) {
        v->kind = VERDICT_FAIL;
        if (v->outcome && v->iterations == 1 && v->corruptions == 1 && !v->klog_faults &&
            !v->deaths) /* a once-model plug-in: its exit and last line say it best */
            v->reason = xasprintf("the check failed (%s)", v->outcome_why);
        else
            v->reason = xasprintf("%s%lld corruption%s (%lld mismatch, %lld abnormal death), %lld "
                                  "kernel fault line%s%s",
                                  v->self_test ? "detector self-test: " : "", v->corruptions,
                                  v->corruptions == 1 ? "" : "s", v->mismatches, v->deaths,
                                  v->klog_faults, v->klog_faults == 1 ? "" : "s",
                                  v->saw_result ? ""
                                                : "; no summary line (the reproducer's "
                                                  "supervisor may have died)");
    } else if (v->saw_result && v->outcome && !strcmp(v->outcome, "skip")) {
        v->kind = VERDICT_SKIP;
        v->reason = xasprintf("the reproducer cannot test here (%s)", v->outcome_why);
    } else if (v->saw_result && v->outcome && !strcmp(v->outcome, "infra")) {
        v->kind = VERDICT_INFRA;
        v->reason = xasprintf("the reproducer failed to run (%s)", v->outcome_why);
    } else if (v->saw_result && v->iterations > 0) {
        v->kind = VERDICT_PASS;
        if (v->outcome && v->iterations == 1) /* a once-model plug-in */
            v->reason = xasprintf("the check passed (%s)", v->outcome_why);
        else
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
            v->reason =
                xasprintf("panic %s the reproducer started", v->saw_begin ? "after" : "before");
        else if (ctx && ctx->qemu_failure)
            v->reason = xasprintf("QEMU failed: %s", ctx->qemu_failure);
        else if (!v->saw_begin)
            v->reason = xstrdup("the guest never started the reproducer (no PVLAB-BEGIN line)");
        else
            v->reason = xasprintf("the guest stopped after %lld iterations without a result "
                                  "(no PVLAB-RESULT line; it crashed or powered off)",
                                  v->iterations);
    }
    free(guest_error);
    free(early_fault);
}

#define DOMU_TAG "PVLAB-DOMU "

/* The tagged line's place name and text, or 0 for an untagged line. */
static int split_tag(const char *line, size_t n, const char **name, size_t *name_len,
                     const char **text)
{
    const char *t = memmem_str(line, n, DOMU_TAG), *sp;
    if (!t)
        return 0;
    t += strlen(DOMU_TAG);
    sp = memchr(t, ' ', n - (size_t)(t - line));
    if (!sp)
        return 0;
    *name = t;
    *name_len = (size_t)(sp - t);
    *text = sp + 1;
    return 1;
}

/* Whether the untagged lines hold dom0's domU-trial BEGIN; *places_r gets its "places". */
static int domus_begin(const char *log, size_t len, char **places_r)
{
    const char *p = log, *end = log + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        const char *name, *text, *tag;
        size_t nl_len;
        if (!split_tag(p, n, &name, &nl_len, &text) && (tag = memmem_str(p, n, "PVLAB-BEGIN")) &&
            memmem_str(p, n, "\"mode\":\"domus\"")) {
            char *js = payload_after(tag, eol, "PVLAB-BEGIN");
            struct json_flat j;
            int ok = json_flat_parse(js, &j, NULL) == 0;
            if (ok) {
                *places_r = xstrdup(json_flat_str(&j, "places") ? json_flat_str(&j, "places") : "");
                json_flat_free(&j);
            }
            free(js);
            return ok;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* Splits the log: untagged lines into ctl, the lines of place `name` (tag removed) into out. */
static void stream_of(const char *log, size_t len, const char *name, struct buf *out)
{
    const char *p = log, *end = log + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p), nm_len;
        const char *nm, *text;
        int tagged = split_tag(p, n, &nm, &nm_len, &text);
        if (name ? tagged && nm_len == strlen(name) && !memcmp(nm, name, nm_len) : !tagged) {
            const char *from = name ? text : p;
            buf_add(out, from, (size_t)(eol - from));
            buf_addch(out, '\n');
        }
        p = nl ? nl + 1 : end;
    }
}

/* dom0's stage lines: *stages_r the JSON array, and which places timed out or failed to start. */
static void control_stream(const char *ctl, size_t len, struct buf *stages, struct sv *no_start,
                           struct sv *timed_out, char **error_r)
{
    const char *p = ctl, *end = ctl + len;
    int first = 1;

    buf_addch(stages, '[');
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        const char *tag;
        if ((tag = memmem_str(p, n, "PVLAB-STAGE"))) {
            char *js = payload_after(tag, eol, "PVLAB-STAGE");
            struct json_flat j;
            if (json_flat_parse(js, &j, NULL) == 0) {
                const char *st = json_flat_str(&j, "stage"), *pl = json_flat_str(&j, "place");
                if (!first)
                    buf_addch(stages, ',');
                buf_adds(stages, js);
                first = 0;
                if (st && pl && !strcmp(st, "create_failed"))
                    sv_push(no_start, pl);
                if (st && pl && !strcmp(st, "timeout"))
                    sv_push(timed_out, pl);
                json_flat_free(&j);
            }
            free(js);
        } else if ((tag = memmem_str(p, n, "PVLAB-ERROR")) && !*error_r) {
            *error_r = payload_after(tag, eol, "PVLAB-ERROR");
        }
        p = nl ? nl + 1 : end;
    }
    buf_addch(stages, ']');
}

/* The first "xl-create NAME: ... error ..." line dom0 printed for place name, malloc'd, or NULL. */
static char *create_error(const char *ctl, size_t len, const char *name)
{
    const char *p = ctl, *end = ctl + len;
    char *prefix = xasprintf("xl-create %s: ", name);
    char *hit = NULL;

    while (p < end && !hit) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        const char *at = memmem_str(p, n, prefix);
        if (at && memmem_str(at, (size_t)(eol - at), "error"))
            hit = payload_after(at, eol, prefix);
        p = nl ? nl + 1 : end;
    }
    free(prefix);
    return hit;
}

static int in_list(const struct sv *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return 1;
    return 0;
}

/*
 * A domU trial: one verdict per place from its own stream, then the trial's: fail when any
 * place saw corruption (naming each), else infra when any place gave no result (or dom0's
 * toolstack failed), else pass. Counts are sums over the places.
 */
static void parse_places(const char *log, size_t len, const char *places,
                         const struct verdict_ctx *ctx, struct verdict *v)
{
    struct sv names = SV_INIT, no_start = SV_INIT, timed_out = SV_INIT;
    struct buf ctl = BUF_INIT, stages = BUF_INIT, pj = BUF_INIT, failed = BUF_INIT,
               infra = BUF_INIT;
    char *error = NULL;
    struct verdict d0;
    struct jw w;
    long long passed = 0;

    memset(v, 0, sizeof(*v));
    v->saw_begin = 1;
    stream_of(log, len, NULL, &ctl);
    parse_one(ctl.data, ctl.len, ctx, &d0); /* dom0's own stream: its END, kernel faults */
    v->saw_end = d0.saw_end;
    control_stream(ctl.data, ctl.len, &stages, &no_start, &timed_out, &error);
    sv_split(&names, places, ",");
    jw_init(&w, &pj);
    jw_obj(&w);
    jw_key(&w, "stages");
    jw_raw(&w, stages.data);
    jw_key(&w, "places");
    jw_arr(&w);
    for (size_t i = 0; i < names.n; i++) {
        struct buf one = BUF_INIT;
        struct verdict pv;
        stream_of(log, len, names.v[i], &one);
        parse_one(one.data, one.len, ctx, &pv);
        if (pv.kind == VERDICT_INFRA && !pv.saw_result && !pv.corruptions) {
            char *old = pv.reason;
            char *why =
                in_list(&no_start, names.v[i]) ? create_error(ctl.data, ctl.len, names.v[i]) : NULL;
            pv.reason = in_list(&no_start, names.v[i])
                            ? xasprintf("xl create failed: %s", why ? why : "see dom0's console")
                        : in_list(&timed_out, names.v[i])
                            ? xstrdup("no result before dom0's deadline; the domain was destroyed")
                        : !one.len ? xstrdup("the domU printed nothing (does the kernel boot as a "
                                             "PV domU?)")
                                   : xstrdup(old);
            free(old);
            free(why);
        }
        jw_obj(&w);
        jw_kv_s(&w, "name", names.v[i]);
        jw_kv_s(&w, "verdict", verdict_name(pv.kind));
        jw_kv_s(&w, "reason", pv.reason);
        jw_kv_s(&w, "kernel", pv.guest_kernel);
        jw_kv_int(&w, "iterations", pv.iterations);
        jw_kv_int(&w, "corruptions", pv.corruptions);
        jw_end(&w);
        if (pv.kind == VERDICT_FAIL)
            buf_addf(&failed, "%s%s: %s", failed.len ? "; " : "", names.v[i], pv.reason);
        else if (pv.kind == VERDICT_PASS)
            passed++;
        else
            buf_addf(&infra, "%s%s: %s", infra.len ? "; " : "", names.v[i], pv.reason);
        v->saw_result |= pv.saw_result;
        v->self_test |= pv.self_test;
        v->iterations += pv.iterations;
        v->corruptions += pv.corruptions;
        v->mismatches += pv.mismatches;
        v->deaths += pv.deaths;
        v->klog_faults += pv.klog_faults;
        v->events += pv.events;
        for (size_t k = 0; k < pv.evidence.n; k++)
            if (v->evidence.n < VERDICT_MAX_EVIDENCE)
                sv_pushf(&v->evidence, "%s: %s", names.v[i], pv.evidence.v[k]);
        if (!v->guest_kernel && pv.guest_kernel)
            v->guest_kernel = xstrdup(pv.guest_kernel);
        verdict_free(&pv);
        buf_release(&one);
    }
    jw_end(&w);
    jw_end(&w);
    /* dom0's own processes faulting (the toolstack) is evidence too, attributed to dom0 */
    if (d0.klog_faults) {
        v->klog_faults += d0.klog_faults;
        for (size_t k = 0; k < d0.evidence.n; k++)
            if (v->evidence.n < VERDICT_MAX_EVIDENCE)
                sv_pushf(&v->evidence, "dom0 (toolstack): %s", d0.evidence.v[k]);
        buf_addf(&failed, "%sdom0 (toolstack): %lld kernel fault line%s", failed.len ? "; " : "",
                 d0.klog_faults, d0.klog_faults == 1 ? "" : "s");
    }
    v->places_json = buf_detach(&pj, NULL);
    if (failed.len) {
        v->kind = VERDICT_FAIL;
        v->reason = xasprintf("corruption in %s", failed.data);
    } else if (infra.len || error || !names.n) {
        v->kind = VERDICT_INFRA;
        v->reason = error       ? xasprintf("dom0 toolstack: %s%s%s", error, infra.len ? "; " : "",
                                      infra.len ? infra.data : "")
                    : infra.len ? xasprintf("%lld of %zu places gave no result: %s",
                                            (long long)names.n - passed, names.n, infra.data)
                                : xstrdup("dom0 named no places to run the reproducer in");
    } else {
        v->kind = VERDICT_PASS;
        v->reason = xasprintf("%lld iterations in %zu place%s (%s), no corruption", v->iterations,
                              names.n, names.n == 1 ? "" : "s", places);
    }
    free(error);
    verdict_free(&d0);
    sv_clear(&names);
    sv_clear(&no_start);
    sv_clear(&timed_out);
    buf_release(&ctl);
    buf_release(&stages);
    buf_release(&pj);
    buf_release(&failed);
    buf_release(&infra);
}

void verdict_parse(const char *log, size_t len, const struct verdict_ctx *ctx, struct verdict *v)
{
    char *places = NULL;

    if (domus_begin(log, len, &places))
        parse_places(log, len, places, ctx, v);
    else
        parse_one(log, len, ctx, v);
    free(places);
}

int verdict_line_is_tagged(const char *line, size_t len)
{
    return memmem_str(line, len, DOMU_TAG) != NULL;
}
