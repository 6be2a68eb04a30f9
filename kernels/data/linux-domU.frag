# Linux PV domU fragment (format: see linux-dom0.frag). A domU gets its console, disk and
# network from PV frontends; no PCI/ACPI needed.
CONFIG_64BIT=y
CONFIG_SMP=y
CONFIG_PARAVIRT_GUEST=y                 @ 2.6.26-3.9
CONFIG_HYPERVISOR_GUEST=y               @ 3.10-
CONFIG_PARAVIRT=y
CONFIG_XEN=y
CONFIG_XEN_PV=y                         @ 4.14-

# preemption and the slab allocator, as in linux-dom0.frag: bug #40 needs a reschedule point in
# the #NM handler's allocation; with allnoconfig/tinyconfig's PREEMPT_NONE (and SLOB) a domU
# hid it (4.1.5 as a lazy-FPU domU: 0 of 4000 execs, where as dom0 it leaks in every cell)
# CONFIG_PREEMPT_NONE is not set
CONFIG_PREEMPT_VOLUNTARY=y ?
CONFIG_SLUB=y ?

CONFIG_TTY=y                            @ 3.9-
CONFIG_PRINTK=y
CONFIG_HVC_XEN=y
# the block-device menu: allnoconfig (the base before 3.17) turns it off, and the frontend with it;
# tinyconfig (from 3.17) turns off the block layer too (4.1.5 as a domU; the ladder's eras only)
CONFIG_BLOCK=y                          @ 3.17-4.13
CONFIG_BLK_DEV=y                        @ 2.6.26-4.13
CONFIG_XEN_BLKDEV_FRONTEND=y
CONFIG_XEN_NETDEV_FRONTEND=y ?
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
