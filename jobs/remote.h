/*
 * Trials on other hosts: one GNU parallel process fans prepared trials out over ssh, from a
 * hosts file in parallel's --sshloginfile format ("[N/][sshcommand [options]] [user@]host", one
 * a line; ":" is this host). Each trial is `pvlab trial --job WORD` there (WORD: the trial's
 * options in base64, so nothing is interpreted by a shell on the way), which prints progress and
 * one typed outcome on its stdout; parallel tags each line with the trial's key. The artifacts a
 * trial boots are sent once to every host (parallel --basefile, to the same path) and checked by
 * sha256 there before booting, so a shared cache works as well.
 *
 * parallel reads its input as it runs and notices nothing (no trial ending, no output) while
 * it waits for the next line, so a caller hands over a round of trials and closes the input
 * (remote_close_input); parallel exits once they have all ended.
 *
 * Hosts that cannot be reached at the start are reported and left out (none left: an error).
 * A host that disappears mid-run: parallel runs its trials again on another host (--retries);
 * a trial that failed everywhere comes back as infra with parallel's exit status.
 */
#ifndef PVLAB_JOBS_REMOTE_H
#define PVLAB_JOBS_REMOTE_H

#include "jobs/trial_job.h"
#include "util/err.h"
#include "util/sv.h"

struct remote;

struct remote_opts {
    const char *hosts_file;
    const char *remote_pvlab;     /* NULL: "pvlab" */
    const char *const *basefiles; /* files every trial needs on every host (NULL-terminated) */
    const char *workdir;          /* where the filtered hosts file and the job log are kept */
    int connect_timeout_s;        /* for the start-up reachability check; 0 = 10 */
};

/*
 * Checks every host of the file (ssh BatchMode, a timeout), reports each unreachable one with
 * warn (may be NULL), and starts parallel on the reachable ones. *slots_r gets how many trials
 * may run at once (the sum of the hosts' N/ prefixes, 1 for a host without one).
 */
int remote_start(const struct remote_opts *o, void (*warn)(void *ctx, const char *line), void *ctx,
                 struct remote **r_r, int *slots_r, struct err *e);
/* Hands a prepared trial to parallel under key (a short word without spaces). */
int remote_submit(struct remote *r, const char *key, const struct trial_job *j, struct err *e);
/* No more trials: parallel runs what it has and exits (it sees a trial end only while it is
 * not waiting for input, so the caller submits a round's trials, then closes). */
void remote_close_input(struct remote *r);
/*
 * Blocks until a submitted trial ends: 1 with *key_r (malloc'd) and *o (its outcome; infra
 * when it was lost on every host it tried), 0 when nothing is in flight, -1 on error.
 */
int remote_wait(struct remote *r, char **key_r, struct trial_outcome *o, struct err *e);
/* Stops parallel (and with it every trial in flight); frees r. NULL is accepted. */
void remote_stop(struct remote *r);

#endif
