/*
 * The libvirt backend of a trial (docs/libvirt.md): the L1 host as a transient libvirt domain
 * created through the libvirt C API from lab/domxml.c's XML, visible to `virsh list` as
 * pvlab-<...> while it runs, under libvirt's resource control and logging.
 *
 *   libvirt_open     connect to a URI ("qemu:///system"; NULL = libvirt's default) and check
 *                    that it has the QEMU driver; every failure is ERR_HOST with what to do
 *                    (libvirtd not running, URI unreachable, permission denied, driver missing)
 *   libvirt_reap     destroy the pvlab-* domains whose pvlab metadata names a process of this
 *                    host that is gone; domains without that metadata, of a live process or of
 *                    another host are left alone
 *   libvirt_start    create the domain (it ends itself when the guest powers off)
 *   libvirt_running  whether it still runs; libvirt_destroy stops it (timeouts, interrupts)
 */
#ifndef PVLAB_LAB_LIBVIRT_H
#define PVLAB_LAB_LIBVIRT_H

#include "util/err.h"

struct libvirt;

int libvirt_open(const char *uri, struct libvirt **lv_r, struct err *e);
/* *n_r gets how many stale domains were destroyed. */
int libvirt_reap(struct libvirt *lv, int *n_r, struct err *e);
/* Starts a transient domain from xml; its name is remembered for the calls below. */
int libvirt_start(struct libvirt *lv, const char *xml, struct err *e);
/* 1 while the started domain runs, 0 once it is gone or shut off. */
int libvirt_running(struct libvirt *lv);
void libvirt_destroy(struct libvirt *lv);
void libvirt_close(struct libvirt *lv);
/* 1 when a process of pid lives on this host (kill(pid, 0)); for libvirt_reap's decision. */
int libvirt_pid_alive(long pid);

#endif
