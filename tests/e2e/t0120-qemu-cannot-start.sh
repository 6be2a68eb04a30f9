#!/usr/bin/env bash
# A QEMU that fails before the guest prints anything, on a run's first trial, is the host's
# fault: pvlab run stops with exit 128 and QEMU's own message (never 125, which git bisect run
# and pvlab bisect read as "skip this commit"), and pvlab bisect stops instead of skipping.
# The same failure after a trial of the run booted stays an infra trial.
. "$(dirname "$0")/lib.sh"
plan 10
T=$PVLAB_HOME
REAL=$(command -v qemu-system-x86_64)

# nostart: answers --version, fails to start any machine (as a broken QEMU install does)
cat >$T/qemu-nostart <<EOF
#!/bin/sh
case " \$* " in *" --version "*) exec $REAL --version ;; esac
echo "qemu-system-x86_64: -machine q35: unsupported machine type (broken installation)" >&2
exit 1
EOF
# second: the first start works, later ones fail the same way
cat >$T/qemu-second <<EOF
#!/bin/sh
case " \$* " in *" --version "*) exec $REAL --version ;; esac
n=\$(cat $T/starts 2>/dev/null || echo 0); echo \$((n + 1)) >$T/starts
[ "\$n" = 0 ] && exec $REAL "\$@"
echo "qemu-system-x86_64: cannot allocate guest memory (second start)" >&2
exit 1
EOF
chmod +x $T/qemu-nostart $T/qemu-second
for q in nostart second; do printf '[qemu]\nbinary = %s\naccel = tcg\n' $T/qemu-$q >$T/$q.conf; done

run_pvlab $T/a --config $T/nostart.conf run --iterations 50 --json
cat $T/a.err | diag
check "QEMU failing at start on the first trial: exit 128, not 125" [ $rc = 128 ]
check "... the error shows QEMU's own message" \
    grep -q "QEMU cannot start a guest on this host.*unsupported machine type (broken installation)" $T/a.err
check "... --json still prints the run, which is not a skip" \
    bash -c "[ \"\$(json $T/a.out '\$j->{status}')\" = error ] &&
             [ \"\$(json $T/a.out '\$j->{verdict} // \"none\"')\" != skip ]"
check "... and its console log and QEMU's output are kept" \
    bash -c "grep -q 'unsupported machine type' \"\$(json $T/a.out '\$j->{trials}[0]{log}').qemu\""

run_pvlab $T/b --config $T/second.conf run --iterations 50 --trials 2 --json
cat $T/b.err | tail -4 | diag
check "the same failure after a trial booted: the run completes (exit 0)" [ $rc = 0 ]
check "... trial 1 passed, trial 2 is infra with QEMU's message" \
    bash -c "[ \"\$(json $T/b.out '\$j->{trials}[0]{verdict}')\" = pass ] &&
             [ \"\$(json $T/b.out '\$j->{trials}[1]{verdict}')\" = infra ] &&
             json $T/b.out '\$j->{trials}[1]{reason}' | grep -q 'cannot allocate guest memory'"

# pvlab bisect over a test command that runs pvlab on that host: it must stop, not skip
repo=$T/repo
mkdir -p $repo
(cd $repo && git init -q && git config user.email t@example.org && git config user.name Tester &&
    for i in 1 2 3 4 5; do echo $i >f && git add f && git commit -qm "rev $i"; done)
cat >$T/trial.sh <<EOF
#!/bin/sh
exec "$PVLAB" --config $T/nostart.conf run --iterations 50 -q
EOF
chmod +x $T/trial.sh
run_pvlab $T/c bisect start --repo $repo --good HEAD~4 --bad HEAD --test-cmd $T/trial.sh --json
cat $T/c.err | tail -4 | diag
check "pvlab bisect on that host stops with an error" bash -c "[ $rc != 0 ] && [ $rc != 125 ]"
check "... saying the trial asked to stop, with QEMU's reason" \
    bash -c "grep -q 'asked to stop the bisection (exit >= 128' $T/c.err &&
             grep -q 'unsupported machine type' $T/c.err"
id=$(sed -n 's/^bisection \([0-9]*\) kept.*/\1/p' $T/c.err)
"$PVLAB" bisect log "$id" >$T/log.out 2>&1
check "... no commit was marked skip (bisection $id)" \
    bash -c "[ -n '$id' ] && grep -q 'git bisect start' $T/log.out && ! grep -q 'skip' $T/log.out"
"$PVLAB" bisect status "$id" --json >$T/st.out 2>&1
check "... and the bisection is kept, not reported done" \
    bash -c "s=\$(json $T/st.out '\$j->{status}') && [ -n \"\$s\" ] && [ \"\$s\" != done ]"
