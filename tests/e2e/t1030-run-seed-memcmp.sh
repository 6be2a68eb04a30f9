#!/usr/bin/env bash
# The reproducer from the bug thread (malloc, memset, memcmp in fresh processes) passes on a
# fixed kernel.
. "$(dirname "$0")/lib.sh"
plan 3
T=$PVLAB_HOME

run_pvlab $T/run run --xen 4.17 --linux 6.1 --repro seed-memcmp --iterations 300 --json
cat $T/run.err | tail -5 | diag
check "exit status 0" [ $rc = 0 ]
check "verdict pass" [ "$(json $T/run.out '$j->{verdict}')" = pass ]
check "the reproducer was seed-memcmp" [ "$(json $T/run.out '$j->{repro}')" = seed-memcmp ]
