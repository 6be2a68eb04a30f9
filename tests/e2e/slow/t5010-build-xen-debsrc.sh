#!/usr/bin/env bash
# Slow (a cold cache builds Xen: minutes): the Xen hypervisor from Debian's source package
# (apt-get source xen on bookworm, private apt state) boots Debian's Linux 6.1 as PV dom0.
. "$(dirname "$0")/../lib.sh"
plan 8
T=$PVLAB_HOME

run_pvlab $T/b1 build xen --debian-source --json -q
tail -15 $T/b1.err | diag
check "pvlab build xen --debian-source exits 0" [ $rc = 0 ]
path=$(json $T/b1.out '$j->{path}')
sha=$(json $T/b1.out '$j->{sha256}')
check "version 4.17 read from the tree" bash -c "json $T/b1.out '\$j->{version}' | grep -q '^4\.17'"
check "the hypervisor is a multiboot image (QEMU -kernel loads it)" \
    bash -c "od -An -tx4 -N8192 -w4 '$path' | grep -q 1badb002"
run_pvlab $T/b2 build xen --debian-source --json -q
check "second build: cache hit, no make" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/b2.out '\$j->{make_runs}')\" = 0 ] &&
             [ \"\$(json $T/b2.out '\$j->{cache_hit} ? 1 : 0')\" = 1 ]"

run_pvlab $T/run run --xen debsrc:bookworm --linux 6.1 --repro fpu-leak --iterations 500 \
    --timeout 1200 --json -q
tail -5 $T/run.err | diag
json $T/run.out '$j->{trials}[0]{reason}' 2>/dev/null | diag
check "pvlab run --xen debsrc:bookworm exits 0" [ $rc = 0 ]
check "verdict pass" [ "$(json $T/run.out '$j->{verdict}')" = pass ]
check "the built hypervisor is what booted" [ "$(json $T/run.out '$j->{xen}{sha256}')" = "$sha" ]
clog=$(json $T/run.out '$j->{trials}[0]{log}')
check "console shows Xen 4.17.5 and a PV dom0" \
    bash -c "grep -q 'Xen version 4\.17\.5' '$clog' &&
             grep -q 'Xen PV\|Booting kernel on Xen\|paravirtualized kernel on Xen' '$clog'"
