#include "reporter/client.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/bisect_run.h"
#include "jobs/matrix_report.h"
#include "jobs/run.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sv.h"
#include "util/xalloc.h"

#define CONSOLE_MAX (256u << 10) /* the end of each trial's console posted with its run */

void reporter_init(const struct config *cfg, const char *url_override, char *lab_buf,
                   size_t lab_size, char *spool_buf, size_t spool_size, struct reporter *r)
{
    memset(r, 0, sizeof(*r));
    r->url = url_override ? url_override : cfg->reporter_url;
    r->token = cfg->reporter_token;
    r->timeout_s = cfg->reporter_timeout_s;
    r->retries = cfg->reporter_retries;
    if (cfg->reporter_lab) {
        snprintf(lab_buf, lab_size, "%s", cfg->reporter_lab);
    } else if (gethostname(lab_buf, lab_size - 1) < 0) {
        snprintf(lab_buf, lab_size, "lab");
    }
    lab_buf[lab_size - 1] = '\0';
    r->lab = lab_buf;
    snprintf(spool_buf, spool_size, "%s/spool", cfg->state_dir);
    r->spool_dir = spool_buf;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    buf_add(ctx, data, size * n);
    return size * n;
}

int reporter_http(const struct reporter *r, const char *method, const char *path, const char *body,
                  long *status_r, struct buf *resp, struct err *e)
{
    struct buf sink = BUF_INIT, *out = resp ? resp : &sink;
    char *url = NULL, *auth = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode cr = CURLE_OK;
    int rc = -1;

    *status_r = 0;
    if (!r->url || !*r->url) {
        err_set(e, ERR_CONFIG, "no dashboard to post to: set [reporter] url or give --to URL");
        return -1;
    }
    url = xasprintf("%s%s", r->url, path);
    auth = r->token ? xasprintf("Authorization: Bearer %s", r->token) : NULL;
    for (int attempt = 0; attempt <= r->retries; attempt++) {
        CURL *c = curl_easy_init();
        struct curl_slist *h = NULL;
        long status = 0;

        if (!c) {
            err_set(e, ERR_INTERNAL, "cannot start libcurl");
            goto out;
        }
        if (attempt) {
            /* back-off: 1 s, 2 s, 4 s ... (at most 30), cut short by Ctrl-C */
            int wait_ms = 1000 << (attempt - 1 < 5 ? attempt - 1 : 5);
            for (int t = 0; t < wait_ms && !proc_interrupted(); t += 100)
                usleep(100000);
        }
        buf_reset(out);
        h = curl_slist_append(h, "Content-Type: application/json");
        if (auth)
            h = curl_slist_append(h, auth);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)r->timeout_s);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(r->timeout_s < 5 ? r->timeout_s : 5));
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        if (!strcmp(method, "POST")) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
        }
        errbuf[0] = '\0';
        cr = curl_easy_perform(c);
        if (cr == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (cr == CURLE_OK && status < 500) {
            *status_r = status;
            rc = 0;
            goto out;
        }
        if (cr == CURLE_OK)
            snprintf(errbuf, sizeof(errbuf), "HTTP %ld: %.200s", status, out->data);
        if (proc_interrupted())
            break;
        log_info("reporter", "%s %s: %s (attempt %d of %d)", method, url,
                 *errbuf ? errbuf : curl_easy_strerror(cr), attempt + 1, r->retries + 1);
    }
    err_set(e, ERR_NET,
            "the dashboard at %s did not answer: %s; results wait in %s for the next "
            "'pvlab report'",
            r->url, *errbuf ? errbuf : curl_easy_strerror(cr), r->spool_dir);
out:
    buf_release(&sink);
    free(url);
    free(auth);
    return rc;
}

/* The next spool sequence number: one past the highest file name's. */
static long next_seq(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    long max = 0;

    while (d && (de = readdir(d)))
        if (de->d_name[0] >= '0' && de->d_name[0] <= '9') {
            long v = strtol(de->d_name, NULL, 10);
            if (v > max)
                max = v;
        }
    if (d)
        closedir(d);
    return max + 1;
}

int reporter_spool_add(const struct reporter *r, const char *kind, long long local_id,
                       const char *doc_json, struct err *e)
{
    struct buf env = BUF_INIT;
    struct jw w;
    char *id = xasprintf("%s/%s/%lld", r->lab, kind, local_id);
    char *path = NULL, *lock = xasprintf("%s/.lock", r->spool_dir);
    int fd = -1, rc = -1;

    if (fs_mkdirs(r->spool_dir, e) < 0 || fs_lock(lock, &fd, e) < 0)
        goto out;
    jw_init(&w, &env);
    jw_obj(&w);
    jw_kv_s(&w, "kind", kind);
    jw_kv_s(&w, "id", id);
    jw_kv_s(&w, "lab", r->lab);
    jw_key(&w, "doc");
    jw_raw(&w, doc_json);
    jw_end(&w);
    path = xasprintf("%s/%08ld-%s-%lld.json", r->spool_dir, next_seq(r->spool_dir), kind, local_id);
    if (fs_write_atomic(path, env.data, env.len, e) < 0)
        goto out;
    rc = 0;
out:
    fs_unlock(fd);
    buf_release(&env);
    free(id);
    free(path);
    free(lock);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The spool's files in order (names start with their sequence number). */
static void spool_files(const char *dir, struct sv *out)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && n > 5 &&
            !strcmp(de->d_name + n - 5, ".json"))
            sv_push(out, de->d_name);
    }
    if (d)
        closedir(d);
    qsort(out->v, out->n, sizeof(char *), by_name);
}

int reporter_flush(const struct reporter *r, int *sent_r, int *left_r, struct err *e)
{
    struct sv files = SV_INIT;
    char *lock = xasprintf("%s/.lock", r->spool_dir);
    int fd = -1, rc = -1;
    size_t i = 0;

    *sent_r = *left_r = 0;
    if (fs_mkdirs(r->spool_dir, e) < 0 || fs_lock(lock, &fd, e) < 0)
        goto out;
    spool_files(r->spool_dir, &files);
    for (; i < files.n; i++) {
        char *path = xasprintf("%s/%s", r->spool_dir, files.v[i]);
        struct buf body = BUF_INIT, resp = BUF_INIT;
        long status = 0;
        int ok;

        ok = buf_read_file(&body, path, e) == 0 &&
             reporter_http(r, "POST", "/api/v1/results", body.data, &status, &resp, e) == 0;
        if (ok && (status == 200 || status == 201)) {
            unlink(path);
            (*sent_r)++;
        } else if (ok) {
            /* the dashboard refused this one (not its availability): keep it aside, go on */
            char *rej = xasprintf("%s/rejected", r->spool_dir);
            char *to = xasprintf("%s/%s", rej, files.v[i]);
            fs_mkdirs(rej, NULL);
            rename(path, to);
            log_warn("reporter", "the dashboard refused %s (HTTP %ld: %.200s); kept in %s",
                     files.v[i], status, resp.data, rej);
            free(rej);
            free(to);
        }
        buf_release(&body);
        buf_release(&resp);
        free(path);
        if (!ok)
            break; /* down: the rest wait, in order */
    }
    *left_r = (int)(files.n - i);
    rc = i == files.n ? 0 : -1;
out:
    fs_unlock(fd);
    sv_clear(&files);
    free(lock);
    return rc;
}

/* The document of one result, as the dashboard takes it. */
static int build_doc(struct store *st, const char *kind, long long id, struct buf *out,
                     struct err *e)
{
    if (!strcmp(kind, "run")) {
        struct run_rec rr;
        struct trial_rec *t = NULL;
        size_t n = 0;
        if (store_run_get(st, id, &rr, &t, &n, e) < 0)
            return -1;
        run_json(&rr, t, n, CONSOLE_MAX, out);
        run_rec_free(&rr);
        trial_recs_free(t, n);
        return 0;
    }
    if (!strcmp(kind, "bisect"))
        return bisect_json(st, id, out, e);
    {
        struct matrix_report rep;
        if (matrix_report_build(st, id, -1, &rep, e) < 0)
            return -1;
        matrix_report_json(&rep, out);
        matrix_report_free(&rep);
        return 0;
    }
}

int reporter_enqueue(const struct reporter *r, struct store *st, const char *kind,
                     long long local_id, struct err *e)
{
    struct buf doc = BUF_INIT;
    int rc = -1;

    if (build_doc(st, kind, local_id, &doc, e) < 0)
        goto out;
    /* a matrix carries the runs of its cells (a boot bisection those of its trials), so the
     * dashboard's links to them lead somewhere */
    if (!strcmp(kind, "matrix")) {
        struct matrix_rec m;
        struct matrix_cell_rec *cells = NULL;
        size_t n = 0;
        int bad = 0;
        if (store_matrix_get(st, local_id, &m, &cells, &n, e) < 0)
            goto out;
        for (size_t i = 0; i < n && !bad; i++)
            bad = cells[i].run_id > 0 && reporter_enqueue(r, st, "run", cells[i].run_id, e) < 0;
        matrix_rec_free(&m);
        matrix_cell_recs_free(cells, n);
        if (bad)
            goto out;
    } else if (!strcmp(kind, "bisect")) {
        struct bisect_rec b;
        struct bisect_trial_rec *t = NULL;
        size_t n = 0;
        int bad = 0;
        if (store_bisect_get(st, local_id, &b, &t, &n, e) < 0)
            goto out;
        for (size_t i = 0; i < n && !bad; i++)
            bad = t[i].run_id > 0 && reporter_enqueue(r, st, "run", t[i].run_id, e) < 0;
        bisect_rec_free(&b);
        bisect_trial_recs_free(t, n);
        if (bad)
            goto out;
    }
    if (reporter_spool_add(r, kind, local_id, doc.data, e) < 0 ||
        store_reported_mark(st, kind, local_id, e) < 0)
        goto out;
    rc = 0;
out:
    buf_release(&doc);
    return rc;
}

int reporter_enqueue_new(const struct reporter *r, struct store *st, struct err *e)
{
    static const char *const kinds[] = { "run", "bisect", "matrix" };
    int total = 0;

    for (size_t k = 0; k < 3; k++) {
        long long *ids = NULL;
        size_t n = 0;
        if (store_unreported(st, kinds[k], &ids, &n, e) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (reporter_enqueue(r, st, kinds[k], ids[i], e) < 0) {
                free(ids);
                return -1;
            }
        total += (int)n;
        free(ids);
    }
    return total;
}

void reporter_bisect_request(const struct cell_report *c, struct buf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj(&w);
    jw_kv_s(&w, "alias", c->cause.repo);
    jw_kv_s(&w, "good", c->cause.good);
    jw_kv_s(&w, "bad", c->cause.bad);
    jw_kv_s(&w, "axis", c->cause.axis);
    jw_kv_s(&w, "find", c->cause.find);
    jw_kv_s(&w, !strcmp(c->cause.axis, "xen") ? "linux" : "xen", c->cause.other_spec);
    jw_kv_s(&w, "repro", c->c.repro_name);
    jw_key(&w, "options");
    jw_obj(&w);
    jw_kv_int(&w, "iterations", c->c.iterations);
    jw_kv_bool(&w, "lazy_fpu", cell_lazy_fpu(c));
    jw_end(&w);
    jw_end(&w);
}

int reporter_request_bisections(const struct reporter *r, const struct matrix_report *rep,
                                void (*say)(void *ctx, const char *line), void *ctx, struct err *e)
{
    int queued = 0;

    for (size_t i = 0; i < rep->ncells; i++) {
        const struct cell_report *c = &rep->cr[i];
        struct buf body = BUF_INIT, resp = BUF_INIT, line = BUF_INIT;
        struct json_flat j = { NULL, 0 };
        long status = 0;

        if (!c->cause.axis)
            continue;
        reporter_bisect_request(c, &body);
        if (reporter_http(r, "POST", "/api/v1/requests", body.data, &status, &resp, e) < 0) {
            buf_release(&body);
            return -1;
        }
        json_flat_parse(resp.data ? resp.data : "{}", &j, NULL);
        if (status == 201) {
            queued++;
            buf_addf(&line,
                     "%s Xen %s x Linux %s %s: bisection (%s..%s in %s) requested: "
                     "request %.0f, %s/request/%.0f",
                     cell_change_name(c->change), c->c.xen, c->c.linux_, c->c.repro, c->cause.good,
                     c->cause.bad, c->cause.repo, json_flat_num(&j, "id", 0), r->url,
                     json_flat_num(&j, "id", 0));
        } else {
            buf_addf(&line,
                     "%s Xen %s x Linux %s %s: the dashboard refused the bisection "
                     "request (HTTP %ld): %s",
                     cell_change_name(c->change), c->c.xen, c->c.linux_, c->c.repro, status,
                     json_flat_str(&j, "error") ? json_flat_str(&j, "error")
                     : resp.data                ? resp.data
                                                : "");
        }
        if (say)
            say(ctx, line.data);
        json_flat_free(&j);
        buf_release(&body);
        buf_release(&resp);
        buf_release(&line);
    }
    return queued;
}
