#!/usr/bin/env bash
# Ctrl-C (SIGINT) in the middle of a run: pvlab stops QEMU, keeps the trial that finished,
# exits 130 (which stops a git bisect run, unlike 125 = skip) and, with --json, prints the
# partial run.
. "$(dirname "$0")/lib.sh"
plan 6
T=$PVLAB_HOME

"$PVLAB" run --trials 3 --iterations 200 --json >$T/run.out 2>$T/run.err &
pid=$!
for i in $(seq 1 1800); do
    grep -q "^trial 1/3: " $T/run.err && break
    sleep 0.1
done
check "the first trial finished" grep -q "^trial 1/3: pass" $T/run.err
# the second trial is on its way: wait for its QEMU, then interrupt
for i in $(seq 1 600); do qemu_running && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
tail -4 $T/run.err | diag
check "interrupted: exit 130" [ $rc = 130 ]
check "--json prints the partial run, interrupted" \
    [ "$(json $T/run.out '$j->{status}')" = interrupted ]
check "... with the finished trial kept and passing" \
    bash -c "[ \"\$(json $T/run.out '\$j->{trials}[0]{verdict}')\" = pass ] &&
             [ \"\$(json $T/run.out '\$j->{counts}{pass}')\" = 1 ]"
check "... and the interrupted trial not counted as a result" \
    [ "$(json $T/run.out '$j->{counts}{pass} + $j->{counts}{fail}')" = 1 ]
for i in $(seq 1 50); do no_qemu_left && break; sleep 0.1; done
check "no QEMU left" no_qemu_left
