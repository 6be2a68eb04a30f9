#include "reporter/dash_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <zlib.h>

#include "reporter/dash_api.h"
#include "reporter/dash_db.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"

#define CACHE_BUCKETS 1024

struct cache_entry {
    char *key;
    struct MHD_Response *resp, *resp_gz; /* our references; queued responses hold their own */
    size_t bytes;
    unsigned long gen;
    time_t at;
    struct cache_entry *next;
};

struct dash_server {
    struct MHD_Daemon *d;
    char *db_path;
    const struct repos *repos;
    size_t body_max;
    int lease_s, no_cache, port;
    /* idle database connections */
    pthread_mutex_t pool_mu;
    struct dash_db **pool;
    size_t npool, apool;
    /* rendered GET responses of generation gen */
    atomic_ulong gen;
    pthread_mutex_t cache_mu;
    struct cache_entry *buckets[CACHE_BUCKETS];
    size_t cache_bytes;
};

/* State of one request across the access handler's calls. */
struct conn {
    struct buf body;
    int too_big;
};

/* ---- database connections ---- */

static struct dash_db *db_get(struct dash_server *s, struct err *e)
{
    struct dash_db *db = NULL;

    pthread_mutex_lock(&s->pool_mu);
    if (s->npool)
        db = s->pool[--s->npool];
    pthread_mutex_unlock(&s->pool_mu);
    if (!db && dash_db_open(s->db_path, &db, e) < 0)
        return NULL;
    return db;
}

static void db_put(struct dash_server *s, struct dash_db *db)
{
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool == s->apool) {
        s->apool = s->apool ? 2 * s->apool : 8;
        s->pool = xrealloc(s->pool, s->apool * sizeof(s->pool[0]));
    }
    s->pool[s->npool++] = db;
    pthread_mutex_unlock(&s->pool_mu);
}

/* ---- responses ---- */

/* gzip of data (level 6), or -1. */
static int gzip_buf(const char *data, size_t len, struct buf *out)
{
    z_stream z;
    int r;

    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    buf_grow(out, deflateBound(&z, len));
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data;
    z.avail_out = (uInt)out->alloc - 1;
    r = deflate(&z, Z_FINISH);
    if (r == Z_STREAM_END) {
        out->len = z.total_out; /* deflate wrote into the grown buffer directly */
        out->data[out->len] = '\0';
    }
    deflateEnd(&z);
    return r == Z_STREAM_END ? 0 : -1;
}

static void add_headers(struct MHD_Response *r, const struct dash_resp *rs, int gz)
{
    MHD_add_response_header(r, "Content-Type", rs->content_type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    if (!strncmp(rs->content_type, "text/html", 9)) {
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' "
                                "data:; base-uri 'none'; form-action 'none'; "
                                "frame-ancestors 'none'");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
    }
    if (rs->disposition)
        MHD_add_response_header(r, "Content-Disposition", rs->disposition);
    if (rs->allow)
        MHD_add_response_header(r, "Allow", rs->allow);
    if (rs->www_authenticate)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"pvlab\"");
    if (gz >= 0)
        MHD_add_response_header(r, "Vary", "Accept-Encoding");
    if (gz > 0)
        MHD_add_response_header(r, "Content-Encoding", "gzip");
}

/* A response for rs (gz: -1 not cacheable, 0 plain, 1 gzip of data). Takes a copy of data. */
static struct MHD_Response *make_resp(const struct dash_resp *rs, const char *data, size_t len,
                                      int gz)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);

    if (r)
        add_headers(r, rs, gz);
    return r;
}

static int accepts_gzip(struct MHD_Connection *conn)
{
    const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
    return ae && strstr(ae, "gzip") && !strstr(ae, "gzip;q=0");
}

/* ---- cache ---- */

static unsigned bucket_of(const char *key)
{
    unsigned h = 2166136261u;

    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h % CACHE_BUCKETS;
}

static void entry_free(struct cache_entry *c)
{
    MHD_destroy_response(c->resp);
    if (c->resp_gz)
        MHD_destroy_response(c->resp_gz);
    free(c->key);
    free(c);
}

/* Drops every entry (the cache is over its size). Caller holds cache_mu. */
static void cache_clear_locked(struct dash_server *s)
{
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        while (s->buckets[i]) {
            struct cache_entry *c = s->buckets[i];
            s->buckets[i] = c->next;
            entry_free(c);
        }
    }
    s->cache_bytes = 0;
}

/* Queues the cached response of key when it is current; 1 when it did. */
static int cache_serve(struct dash_server *s, struct MHD_Connection *conn, const char *key,
                       enum MHD_Result *ret)
{
    struct cache_entry *c;
    int gz = accepts_gzip(conn), hit = 0;
    time_t now = time(NULL);

    pthread_mutex_lock(&s->cache_mu);
    for (c = s->buckets[bucket_of(key)]; c; c = c->next)
        if (!strcmp(c->key, key))
            break;
    if (c && c->gen == atomic_load(&s->gen) && now - c->at < DASH_CACHE_TTL_S) {
        /* queueing takes its own reference: the entry may be replaced meanwhile */
        *ret = MHD_queue_response(conn, MHD_HTTP_OK, gz && c->resp_gz ? c->resp_gz : c->resp);
        hit = 1;
    }
    pthread_mutex_unlock(&s->cache_mu);
    return hit;
}

static void cache_store(struct dash_server *s, const char *key, const struct dash_resp *rs,
                        unsigned long gen)
{
    struct cache_entry *c = xcalloc(1, sizeof(*c)), **pp;
    struct buf gz = BUF_INIT;
    unsigned b = bucket_of(key);

    c->key = xstrdup(key);
    c->gen = gen;
    c->at = time(NULL);
    c->resp = make_resp(rs, rs->body.data, rs->body.len, 0);
    if (rs->body.len > 1024 && gzip_buf(rs->body.data, rs->body.len, &gz) == 0)
        c->resp_gz = make_resp(rs, gz.data, gz.len, 1);
    c->bytes = rs->body.len + gz.len + strlen(key);
    buf_release(&gz);
    if (!c->resp) {
        entry_free(c);
        return;
    }
    pthread_mutex_lock(&s->cache_mu);
    if (s->cache_bytes + c->bytes > DASH_CACHE_MAX_BYTES)
        cache_clear_locked(s);
    for (pp = &s->buckets[b]; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->key, key)) {
            struct cache_entry *old = *pp;
            *pp = old->next;
            s->cache_bytes -= old->bytes;
            entry_free(old);
            break;
        }
    c->next = s->buckets[b];
    s->buckets[b] = c;
    s->cache_bytes += c->bytes;
    pthread_mutex_unlock(&s->cache_mu);
}

/* ---- requests ---- */

static const char *get_arg(void *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Runs dash_handle for the request and queues its answer (caching a current GET page). */
static enum MHD_Result answer(struct dash_server *s, struct MHD_Connection *conn, const char *url,
                              const char *method, const struct conn *cs)
{
    struct dash_req rq = { method,
                           url,
                           get_arg,
                           conn,
                           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
                           cs ? cs->body.data : "",
                           cs ? cs->body.len : 0 };
    struct dash_resp rs;
    struct err e = ERR_INIT;
    struct MHD_Response *r;
    struct dash_ctx ctx = { NULL, s->repos, s->lease_s };
    unsigned long gen = atomic_load(&s->gen);
    int cacheable = !s->no_cache && (!strcmp(method, "GET") || !strcmp(method, "HEAD")) &&
                    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, NULL, NULL) == 0;
    enum MHD_Result ret;

    if (cacheable && cache_serve(s, conn, url, &ret))
        return ret;
    dash_resp_init(&rs);
    ctx.db = db_get(s, &e);
    if (!ctx.db) {
        log_error("serve", "%s", e.msg);
        rs.status = 503;
        buf_adds(&rs.body, "the dashboard's database cannot be opened; its log says why\n");
    } else {
        dash_handle(&ctx, &rq, &rs);
        db_put(s, ctx.db);
    }
    if (rs.wrote)
        atomic_fetch_add(&s->gen, 1);
    log_info("serve", "%s %s %d %zu", method, url, rs.status, rs.body.len);
    if (cacheable && rs.status == 200)
        cache_store(s, url, &rs, gen);
    r = make_resp(&rs, rs.body.data, rs.body.len, -1);
    ret = r ? MHD_queue_response(conn, (unsigned)rs.status, r) : MHD_NO;
    if (r)
        MHD_destroy_response(r);
    dash_resp_release(&rs);
    return ret;
}

/* Checks a POST before its body is read: a token that does not hold or a body announced as
 * too big is answered at once (a client sending Expect: 100-continue never sends it). */
static int refuse_early(struct dash_server *s, struct MHD_Connection *conn, const char *url,
                        const char *method, enum MHD_Result *ret)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    struct err e = ERR_INIT;
    struct dash_db *db;
    int ok;

    if (cl && strtoull(cl, NULL, 10) > s->body_max) {
        struct dash_resp rs;
        struct MHD_Response *r;
        dash_resp_init(&rs);
        rs.status = 413;
        rs.content_type = "application/json";
        buf_addf(&rs.body,
                 "{\"ok\":false,\"error\":\"the body is over the dashboard's limit of "
                 "%zu bytes\"}\n",
                 s->body_max);
        r = make_resp(&rs, rs.body.data, rs.body.len, -1);
        *ret = r ? MHD_queue_response(conn, 413, r) : MHD_NO;
        if (r)
            MHD_destroy_response(r);
        dash_resp_release(&rs);
        return 1;
    }
    db = db_get(s, &e);
    if (!db)
        return 0; /* the full request will answer 503 */
    ok = dash_auth(db, auth, NULL, &e);
    db_put(s, db);
    if (ok != 0)
        return 0;
    /* dash_handle without a body answers 401 (or 404 / 405 for a wrong path) */
    *ret = answer(s, conn, url, method, NULL);
    return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct dash_server *s = cls;
    struct conn *cs = *con_cls;
    enum MHD_Result ret;

    if (!cs) {
        cs = xcalloc(1, sizeof(*cs));
        buf_init(&cs->body, 0);
        *con_cls = cs;
        if (!strcmp(method, "POST") && refuse_early(s, conn, url, method, &ret))
            return ret;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (cs->too_big || cs->body.len + *upload_data_size > s->body_max)
            cs->too_big = 1;
        else
            buf_add(&cs->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (cs->too_big) {
        struct dash_resp rs;
        struct MHD_Response *r;
        dash_resp_init(&rs);
        rs.content_type = "application/json";
        buf_addf(&rs.body,
                 "{\"ok\":false,\"error\":\"the body is over the dashboard's limit of "
                 "%zu bytes\"}\n",
                 s->body_max);
        r = make_resp(&rs, rs.body.data, rs.body.len, -1);
        ret = r ? MHD_queue_response(conn, 413, r) : MHD_NO;
        if (r)
            MHD_destroy_response(r);
        dash_resp_release(&rs);
        return ret;
    }
    return answer(s, conn, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *cs = *con_cls;

    if (!cs)
        return;
    buf_release(&cs->body);
    free(cs);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn("serve", "%s", msg);
}

/* ---- start / stop ---- */

int dash_listen_parse(const char *listen, void *sa, unsigned *len_r, struct err *e)
{
    char host[256];
    const char *port, *colon;
    struct addrinfo hints, *res = NULL;
    size_t hl;
    int r;

    if (!listen || !*listen)
        goto bad;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':')
            goto bad;
        hl = (size_t)(end - listen - 1);
        if (hl >= sizeof(host))
            goto bad;
        memcpy(host, listen + 1, hl);
        port = end + 2;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            goto bad;
        hl = (size_t)(colon - listen);
        if (hl >= sizeof(host))
            goto bad;
        memcpy(host, listen, hl);
        port = colon + 1;
    }
    host[hl] = '\0';
    if (!*port || strspn(port, "0123456789") != strlen(port) || atol(port) > 65535)
        goto bad;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    r = getaddrinfo(hl ? host : NULL, port, &hints, &res);
    if (r != 0 || !res) {
        err_set(e, ERR_USAGE, "--listen %s: %s", listen, gai_strerror(r));
        return -1;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len_r = (unsigned)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
bad:
    err_set(e, ERR_USAGE,
            "--listen '%s' is not HOST:PORT ([ADDR]:PORT for IPv6, :PORT for every "
            "address)",
            listen ? listen : "");
    return -1;
}

int dash_server_start(const struct dash_server_opts *o, struct dash_server **s_r, struct err *e)
{
    struct dash_server *s = xcalloc(1, sizeof(*s));
    struct sockaddr_storage sa;
    unsigned salen = 0;
    unsigned flags = MHD_USE_ERROR_LOG | MHD_USE_INTERNAL_POLLING_THREAD;
    const union MHD_DaemonInfo *info;
    struct dash_db *db = NULL;

    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_mutex_init(&s->cache_mu, NULL);
    s->db_path = xstrdup(o->db_path);
    s->repos = o->repos;
    s->body_max = o->body_max ? o->body_max : DASH_BODY_MAX_DEFAULT;
    s->lease_s = o->lease_s > 0 ? o->lease_s : DASH_LEASE_S_DEFAULT;
    s->no_cache = o->no_cache;
    if (dash_listen_parse(o->listen, &sa, &salen, e) < 0)
        goto fail;
    if (dash_db_open(s->db_path, &db, e) < 0) /* creates the schema before any thread runs */
        goto fail;
    db_put(s, db);
    flags |= o->threads > 0 ? MHD_USE_AUTO : MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(o->threads > 1 ? o->threads : 0), MHD_OPTION_END);
    if (!s->d) {
        err_set(e, ERR_IO,
                "cannot listen on %s (in use by another program, or not an address "
                "of this host); choose another with --listen",
                o->listen);
        goto fail;
    }
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    *s_r = s;
    return 0;
fail:
    dash_server_stop(s);
    return -1;
}

int dash_server_port(const struct dash_server *s)
{
    return s->port;
}

void dash_server_stop(struct dash_server *s)
{
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d);
    cache_clear_locked(s);
    for (size_t i = 0; i < s->npool; i++)
        dash_db_close(s->pool[i]);
    free(s->pool);
    free(s->db_path);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->cache_mu);
    free(s);
}
