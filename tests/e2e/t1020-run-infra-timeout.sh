#!/usr/bin/env bash
# A guest that never prints a result is infra after the timeout (exit 125), never pass.
. "$(dirname "$0")/lib.sh"
plan 4
T=$PVLAB_HOME

start=$(date +%s)
run_pvlab $T/run run --xen 4.17 --linux 6.1 --repro self-test-hang --timeout 15 --json
end=$(date +%s)
cat $T/run.err | tail -5 | diag
check "exit status 125 (could not test)" [ $rc = 125 ]
check "verdict infra" [ "$(json $T/run.out '$j->{verdict}')" = infra ]
check "the reason names the timeout" \
    bash -c "json $T/run.out '\$j->{trials}[0]{reason}' | grep -q timeout"
check "QEMU was stopped (no leftover process)" \
    no_qemu_left
