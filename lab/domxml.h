/*
 * The libvirt rendering of an L1 Xen host: the same struct qemu_cfg that lab/qemu.c turns into
 * a QEMU argv becomes a transient domain's XML (one source of truth, two renderings; unit tests
 * compare both with golden files and with each other).
 *
 *   accel tcg -> <domain type='qemu'>, kvm -> type='kvm'
 *   cpu "max,-smap" -> <cpu mode='maximum'> with <feature policy='disable' name='smap'/>;
 *       "host" -> host-passthrough; another model -> custom, exact, no fallback
 *   Xen -> <kernel>, its command line -> <cmdline>, the multiboot module list -> <initrd>
 *   serial log -> <serial type='file'>; poweroff, reboot and crash destroy the domain
 *   <seclabel type='static' model='dac' relabel='no'>+0:+0: QEMU runs as the caller (root)
 *       and libvirt relabels nothing (its DAC layer would take the module list for one path)
 *   <metadata><pvlab:trial pid= host= started=/>: which pvlab process owns the domain, so a
 *       later pvlab can tell a domain left by a dead one (lab/libvirt.c)
 */
#ifndef PVLAB_LAB_DOMXML_H
#define PVLAB_LAB_DOMXML_H

#include "lab/qemu.h"
#include "util/buf.h"
#include "util/err.h"

#define DOMXML_NS "urn:x-pvlab:trial:1"
#define DOMXML_NAME_PREFIX "pvlab-"

struct domxml_owner {
    const char *name;    /* "pvlab-..." */
    long pid;            /* the pvlab process that owns it */
    const char *host;    /* its hostname */
    const char *started; /* ISO-8601 */
};

/* Appends the domain XML of cfg owned by o. Fails like qemu_build_argv (ERR_USAGE). */
int domxml_build(const struct qemu_cfg *cfg, const struct domxml_owner *o, struct buf *out,
                 struct err *e);
/*
 * Reads the owner out of a domain's pvlab metadata element (what virDomainGetMetadata returns
 * for DOMXML_NS): *pid_r and host (copied, at most n bytes). Returns 0, or -1 when it is not
 * pvlab's.
 */
int domxml_parse_owner(const char *meta, long *pid_r, char *host, size_t n);
/* Appends s with XML's five special characters escaped. */
void domxml_escape(struct buf *out, const char *s);

#endif
