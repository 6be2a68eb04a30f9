#!/usr/bin/env bash
# Positive control of the whole pipeline: the detector self-test clobbers registers in dom0's
# fresh processes; the verdict must be fail, with evidence, and exit 1.
. "$(dirname "$0")/lib.sh"
plan 5
T=$PVLAB_HOME

run_pvlab $T/run run --xen 4.17 --linux 6.1 --repro fpu-leak --iterations 500 \
    --self-test-corrupt 0.05 --json
cat $T/run.err | tail -5 | diag
check "exit status 1 (corruption seen)" [ $rc = 1 ]
check "verdict fail" [ "$(json $T/run.out '$j->{verdict}')" = fail ]
check "corruptions counted" [ "$(json $T/run.out '$j->{trials}[0]{corruptions}')" -gt 0 ]
check "evidence lines carry the register and the self-test label" \
    bash -c "json $T/run.out 'join qq(\n), @{\$j->{trials}[0]{evidence}}' | grep -q 'self_test\":true'"
check "the reason says it was a self-test" \
    bash -c "json $T/run.out '\$j->{trials}[0]{reason}' | grep -q self-test"
