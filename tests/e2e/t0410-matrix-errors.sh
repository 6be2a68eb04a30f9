#!/usr/bin/env bash
# Bad matrix input gets a clear error before anything is fetched or stored: a malformed file
# (file:line:key), an unknown version (the known ones listed), a matrix emptied by its
# exclusions, an unknown or finished matrix to resume.
. "$(dirname "$0")/lib.sh"
plan 8
T=$PVLAB_HOME
export PVLAB_CACHE_DIR=$T/cache # nothing may be fetched: a fresh cache shows it

printf '[matrix]\ntrials = 2\n[xen]\na = 4.17\n[linux]\nb = 6.1\n[repro]\nr = fpu-leak --fast\n' >$T/bad.conf
run_pvlab $T/a matrix run $T/bad.conf
check "malformed file: exit 2, names file:line:key and the option" \
    bash -c "[ $rc = 2 ] && grep -q 'bad.conf:8: \[repro\] r: unknown reproducer option .--fast.' $T/a.err"

printf '[xen]\na = 4.17\nb = 4.99\n[linux]\nl = 6.1\n[repro]\nr = fpu-leak\n' >$T/ver.conf
run_pvlab $T/b matrix run $T/ver.conf
check "unknown Xen version: exit 2, its line, the known versions listed" \
    bash -c "[ $rc = 2 ] && grep -q 'ver.conf:3: \[xen\] b' $T/b.err && grep -q '4.14.*4.17.*4.20' $T/b.err"
check "... and nothing was fetched" [ ! -d $T/cache/apt ]

printf '[xen]\na = 4.17\n[linux]\nl = 6.1\n[repro]\nr = fpu-leak\n[exclude]\nall = xen=*\n' >$T/empty.conf
run_pvlab $T/c matrix run $T/empty.conf
check "a matrix emptied by its exclusions: exit 2, said so" \
    bash -c "[ $rc = 2 ] && grep -q 'the matrix is empty: its 1 exclusion remove' $T/c.err"
printf '[xen]\na = 4.17\n[linux]\nl = 6.1\n[repro]\nr = fpu-leak\n' >$T/one.conf
run_pvlab $T/g matrix run $T/one.conf --only 'xen=4.99 repro=*'
check "--only that matches no cell: exit 2, said so" \
    bash -c "[ $rc = 2 ] && grep -q \"only 'xen=4.99 repro=\\*' matches none of the 1 cells\" $T/g.err"
run_pvlab $T/d matrix run $T/no-such.conf
check "a missing matrix file is named" bash -c "[ $rc = 2 ] && grep -q 'no-such.conf' $T/d.err"
run_pvlab $T/e matrix resume 4242
check "resume of an unknown matrix: named, exit 2" bash -c "[ $rc = 2 ] && grep -q 'no matrix 4242' $T/e.err"
run_pvlab $T/f matrix list
check "nothing was stored by any of these" grep -q "no matrix runs yet" $T/f.out
