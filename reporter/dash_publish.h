/*
 * pvlab publish: the dashboard's pages written as static files for any web server, with links
 * relative to each page (index.html, nightly.html, requests.html, matrix/LAB/N.html,
 * matrix/LAB/latest/NAME.html, nightly/LAB/NAME.html, run/LAB/N.html, run/LAB/N/log/I.txt,
 * bisect/LAB/N.html, request/N.html) and the JSON API's answers (api/v1/runs.json,
 * api/v1/runs/LAB/N.json, ... api/v1/requests/N.json; "url" fields inside keep the server's
 * paths). Each file is written atomically; files of results no longer in the database stay.
 * Blocks on the database and the file system.
 */
#ifndef PVLAB_REPORTER_DASH_PUBLISH_H
#define PVLAB_REPORTER_DASH_PUBLISH_H

#include "config/repos.h"
#include "reporter/dash_db.h"
#include "util/err.h"

struct dash_publish_stats {
    long pages, logs, json;
};

int dash_publish(struct dash_db *db, const struct repos *repos, const char *dir,
                 struct dash_publish_stats *st, struct err *e);

#endif
