/*
 * pvlab serve's HTTP server (libmicrohttpd): receives requests, enforces the body limit and
 * the token before a body is read, hands each request to dash_handle (dash_api.h), and keeps
 * the rendered GET responses of the current database generation in a cache (any write makes
 * them stale; entries also expire after DASH_CACHE_TTL_S, as request pages show lease times).
 *
 * Threads: threads > 0 runs that many polling threads (epoll, one listening socket shared);
 * threads == 0 a thread per connection. Database connections come from a pool (one per
 * request in flight, never shared by two threads at once).
 *
 * dash_server_start returns once the socket listens; requests run on the server's threads
 * until dash_server_stop, which waits for them.
 */
#ifndef PVLAB_REPORTER_DASH_SERVER_H
#define PVLAB_REPORTER_DASH_SERVER_H

#include <stddef.h>

#include "config/repos.h"
#include "util/err.h"

#define DASH_BODY_MAX_DEFAULT (16u << 20)
#define DASH_CACHE_TTL_S 30
#define DASH_CACHE_MAX_BYTES (64u << 20)

struct dash_server_opts {
    const char *listen; /* "127.0.0.1:8080", "[::1]:8080", ":8080" (all); port 0: any */
    const char *db_path;
    const struct repos *repos; /* borrowed for the server's life; NULL: no alias */
    size_t body_max;           /* 0: DASH_BODY_MAX_DEFAULT */
    int threads;               /* > 0: polling threads; 0: a thread per connection */
    int no_cache;              /* render every GET (for measurements) */
    int lease_s;               /* 0: DASH_LEASE_S_DEFAULT */
};

struct dash_server;

/* Opens the database (creating it), binds, and starts serving. ERR_USAGE for a bad --listen,
 * ERR_IO when the address cannot be bound (in use). */
int dash_server_start(const struct dash_server_opts *o, struct dash_server **s_r, struct err *e);
/* The port the server listens on (the one chosen when the option said 0). */
int dash_server_port(const struct dash_server *s);
/* Stops accepting, waits for requests in flight, frees everything. NULL accepted. */
void dash_server_stop(struct dash_server *s);

/*
 * Parses a listen address into a socket address (sa holds a struct sockaddr_storage);
 * *len_r its size. ERR_USAGE with the reason.
 */
int dash_listen_parse(const char *listen, void *sa, unsigned *len_r, struct err *e);

#endif
