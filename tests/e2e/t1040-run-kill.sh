#!/usr/bin/env bash
# kill -9 of pvlab in the middle of a trial: QEMU goes with it, and the next pvlab shows the
# run as interrupted (nothing is left "running" forever).
. "$(dirname "$0")/lib.sh"
plan 3
T=$PVLAB_HOME

"$PVLAB" run --repro self-test-hang --timeout 600 -q > $T/run.out 2>&1 &
pid=$!
for i in $(seq 1 600); do
    qemu_running && break
    sleep 0.1
done
check "QEMU was started" qemu_running
kill -9 $pid
wait $pid 2>/dev/null
for i in $(seq 1 50); do no_qemu_left && break; sleep 0.1; done
check "QEMU died with pvlab" no_qemu_left
run_pvlab $T/list list --json
check "the run shows as interrupted" [ "$(json $T/list.out '$j->[0]{status}')" = interrupted ]
