# Linux PV dom0 fragment, merged over the base config (tinyconfig, defconfig or a file) and
# resolved with `make olddefconfig`. Every option without "?" is checked afterwards: a build
# whose .config lost one fails (a `skip`), naming it.
#   CONFIG_X=VALUE [?] [@ RANGE]     "?" = wanted, not checked; "@ 3.10-" = only those versions
# Option names changed across eras; the ranges below select the right ones per kernel version.

# the machine and the PV entry point
CONFIG_64BIT=y
CONFIG_SMP=y
CONFIG_PARAVIRT_GUEST=y                 @ 2.6.26-3.9
CONFIG_HYPERVISOR_GUEST=y               @ 3.10-
CONFIG_PARAVIRT=y
CONFIG_XEN=y
CONFIG_XEN_PV=y                         @ 4.14-
# XEN_DOM0 silently drops out unless PCI and ACPI (with the local/IO APIC) are on
CONFIG_PCI=y
CONFIG_ACPI=y
CONFIG_X86_LOCAL_APIC=y
CONFIG_X86_IO_APIC=y
CONFIG_XEN_DOM0=y                       @ 2.6.37-
CONFIG_XEN_PRIVILEGED_GUEST=y ?         @ 2.6.26-2.6.36

# preemption: bug #40 needs a reschedule point inside the #NM handler's allocation window;
# tinyconfig's PREEMPT_NONE hides it (measured on 4.1.5 lazy FPU: 0 of 2000 execs), while
# the runs that saw it used PREEMPT_VOLUNTARY (x86_64_defconfig, Debian's kernels)
# CONFIG_PREEMPT_NONE is not set
CONFIG_PREEMPT_VOLUNTARY=y ?
# tinyconfig's SLOB: the #NM handler's allocation must be able to sleep, as with SLUB
# (might_sleep in the slab pre-alloc hook is the voluntary reschedule point)
CONFIG_SLUB=y ?

# console: hvc0, which Xen forwards to its serial port; printk for the kernel log evidence
CONFIG_TTY=y                            @ 3.9-
CONFIG_PRINTK=y
CONFIG_EARLY_PRINTK=y ?
CONFIG_HVC_XEN=y
CONFIG_HVC_XEN_FRONTEND=y               @ 3.3-
CONFIG_XEN_SYS_HYPERVISOR=y

# the initramfs (gzip'd newc cpio) and the reproducer's /init (static ELF and shell scripts)
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y                        @ 2.6.30-
CONFIG_DEVTMPFS=y                       @ 2.6.32-
CONFIG_DEVTMPFS_MOUNT=y                 @ 2.6.32-
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y                  @ 3.10-
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_TMPFS=y
CONFIG_SHMEM=y
CONFIG_MULTIUSER=y                      @ 4.1-
CONFIG_FUTEX=y
CONFIG_EPOLL=y
CONFIG_NET=y
CONFIG_UNIX=y
# 3.4.113 (a late stable release) builds net/ipv6/output_core.c, which calls ip_idents_reserve,
# even without INET; with INET off it does not compile
CONFIG_INET=y ?                         @ 3.4-3.4

# dom0 side of the toolstack (domU runs); small, not needed for dom0-only trials
CONFIG_XEN_DEV_EVTCHN=y ?
CONFIG_XENFS=y ?
CONFIG_XEN_COMPAT_XENFS=y ?
CONFIG_XEN_GNTDEV=y ?                   @ 2.6.37-
CONFIG_XEN_GRANT_DEV_ALLOC=y ?          @ 3.2-
CONFIG_XEN_PRIVCMD=y ?                  @ 3.3-
