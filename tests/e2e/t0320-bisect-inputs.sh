#!/usr/bin/env bash
# pvlab bisect on hostile and careless input: strings that would run commands in a shell are
# passed through literally, a repository path with quotes, $, spaces and a newline works, the
# caller's environment reaches the test command, a missing test command is refused before any
# trial, a relative PVLAB_HOME stays out of the repository, pvlab started with SIGCHLD ignored
# still sees its children, `bisect stop` never signals a pid another host recorded, and the log
# replays with git bisect replay.
. "$(dirname "$0")/lib.sh"
plan 21
T=$PVLAB_HOME

make_repo() { # DIR N FROM: N commits; the file "bug" exists from commit FROM on
    mkdir -p "$1" && (cd "$1" && git init -q && git config user.email t@example.org &&
        git config user.name Tester &&
        for i in $(seq 1 "$2"); do
            echo "$i" >counter
            if [ "$i" -ge "$3" ]; then echo 1 >bug; else rm -f bug; fi
            git add -A && git commit -qm "commit $i"
        done)
}
cat >$T/det.sh <<'EOS'
#!/bin/sh
[ -f bug ] && exit 1
exit 0
EOS
chmod +x $T/det.sh
make_repo $T/repo 16 11
want=$(git -C $T/repo rev-parse HEAD~5) # commit 11

# injection: none of these strings may run anything, now or on resume
cd $T
run_pvlab $T/i1 bisect start --repo $T/repo --good HEAD~15 --bad HEAD --axis linux \
    --xen "file:x'\$(touch $T/PWNED1)'" --dom0-args "a'; touch $T/PWNED2; '" --json
run_pvlab $T/i3 bisect start --repo $T/repo --good HEAD~15 --bad HEAD --axis linux \
    --repro "fpu-leak'; touch $T/PWNED3; '" --json
check "a --xen spec with \$(...) and quotes is taken literally: the bisection stops on it" \
    bash -c "[ $rc != 0 ] && grep -qF \"file:x'\\\$(touch $T/PWNED1)'\" $T/i1.err"
id=$(sed -n 's/.*bisection \([0-9]*\) kept.*/\1/p' $T/i1.err)
run_pvlab $T/i2 bisect resume "$id"
check "a --repro with quotes is named as an unknown reproducer" \
    grep -qF "unknown reproducer 'fpu-leak'; touch $T/PWNED3; ''" $T/i3.err
check "... and nothing ran, on start or on resume" \
    bash -c "[ -n '$id' ] && [ ! -e $T/PWNED1 ] && [ ! -e $T/PWNED2 ] && [ ! -e $T/PWNED3 ] &&
             ! ls $T/repo | grep -q PWNED"
odd="$T/re'po \$(touch $T/PWNED4) x
nl"
make_repo "$odd" 16 11
run_pvlab $T/o1 bisect start --repo "$odd" --good HEAD~15 --bad HEAD --test-cmd $T/det.sh \
    --p 1 --json
check "a repository path with ', \$, spaces and a newline works" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/o1.out '\$j->{result}{culprit}')\" = \"\$(git -C \"\$1\" rev-parse HEAD~5)\" ]" \
    _ "$odd"
check "... and ran nothing" [ ! -e $T/PWNED4 ]

# --p 1: one look at the good end, the parent verified once; the report lists only what a
# test command uses
run_pvlab $T/p1 bisect start --repo $T/repo --good HEAD~15 --bad HEAD --test-cmd $T/det.sh \
    --p 1 --json
check "p = 1: the good end is checked once" [ "$(json $T/p1.out '$j->{result}{check_good}[0]{trials}')" = 1 ]
check "p = 1: the answer's parent is verified once" \
    [ "$(json $T/p1.out '$j->{result}{verify}{parent_trials}')" = 1 ]
check "a test-command bisection's report has no boot parameters" \
    bash -c "[ \"\$(json $T/p1.out 'join \",\", sort keys %{\$j->{result}{params}}')\" = confidence,p,test_cmd,workers ]"
check "each trial points at its output" \
    bash -c "f=\$(json $T/p1.out '\$j->{trials}[0]{log}') && [ -f \"\$f\" ]"
id=$(json $T/p1.out '$j->{id}')
run_pvlab $T/h1 bisect status "$id"
check "human report: verify in words, BEST only once the posterior is not flat" \
    bash -c "grep -q '^verify: *the answer failed 1 of 1 trials; its parent' $T/h1.out &&
             [ \"\$(awk '\$1 == 1 { print \$5 }' $T/h1.out)\" = - ]"

# git bisect replay accepts the log and reaches the same commit
run_pvlab $T/l1 bisect log "$id"
(cd $T/repo && git bisect replay $T/l1.out >$T/replay.out 2>&1; git bisect reset >/dev/null 2>&1)
check "git bisect replay of the log names the culprit" grep -q "^$want is the first bad commit" $T/replay.out

# the caller's environment reaches the test command, and the command line gets the commit as $1
cat >$T/env.sh <<'EOS'
#!/bin/sh
[ "$PVLAB_E2E_MARK" = "from-the-caller" ] || exit 200
[ "$1" = "$PVLAB_BISECT_COMMIT" ] || exit 201
[ -f bug ] && exit 1
exit 0
EOS
chmod +x $T/env.sh
PVLAB_E2E_MARK=from-the-caller run_pvlab $T/e1 bisect start --repo $T/repo --good HEAD~15 \
    --bad HEAD --test-cmd "$T/env.sh \"\$1\"" --p 1 --json
check "the test command sees the caller's environment and the commit as \$1" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/e1.out '\$j->{result}{culprit}')\" = $want ]"

# a test command that does not exist: refused before any bisection is recorded
before=$("$PVLAB" bisect status | grep -c '^[0-9]')
run_pvlab $T/m1 bisect start --repo $T/repo --good HEAD~15 --bad HEAD --test-cmd "$T/no-such.sh --x"
check "a missing test command is refused (exit 2) and named" \
    bash -c "[ $rc = 2 ] && grep -q \"test command '$T/no-such.sh' not found\" $T/m1.err"
check "... before any bisection or trial" [ "$("$PVLAB" bisect status | grep -c '^[0-9]')" = "$before" ]

# relative PVLAB_HOME: worktrees and state under it, never inside the repository
(cd $T && PVLAB_HOME=relhome "$PVLAB" bisect start --repo $T/repo --good HEAD~15 --bad HEAD \
    --test-cmd $T/det.sh --p 1 --json >$T/r1.out 2>$T/r1.err)
check "a relative PVLAB_HOME works from another directory" \
    [ "$(json $T/r1.out '$j->{result}{culprit}')" = "$want" ]
check "... its state is under it, the repository is untouched" \
    bash -c "[ -f $T/relhome/state/pvlab.db ] && [ -z \"\$(git -C $T/repo status --porcelain)\" ] &&
             ! ls -a $T/repo | grep -q relhome"

# started with SIGCHLD ignored (inherited): children are still reaped and read right
perl -e '$SIG{CHLD} = "IGNORE"; exec @ARGV' "$PVLAB" bisect start --repo $T/repo --good HEAD~15 \
    --bad HEAD --test-cmd $T/det.sh --p 1 --timeout 60 --json >$T/s1.out 2>$T/s1.err
check "with SIGCHLD ignored a passing child passes and the culprit is found" \
    bash -c "[ \"\$(json $T/s1.out '\$j->{result}{culprit}')\" = $want ] &&
             [ \"\$(json $T/s1.out '\$j->{trials}[1]{outcome}')\" = pass ]"

# bisect stop of a bisection another host runs: its pid is not ours to signal
sleep 300 &
victim=$!
id=$(json $T/p1.out '$j->{id}')
sqlite3 $T/state/pvlab.db "UPDATE bisections SET status = 'running', owner_host = 'elsewhere',
    owner_pid = $victim WHERE id = $id"
run_pvlab $T/st bisect stop "$id"
check "bisect stop refuses a bisection another host runs, naming the host" \
    bash -c "[ $rc != 0 ] && grep -q 'runs on host elsewhere' $T/st.err"
check "... and signals nothing here" kill -0 $victim
kill $victim

# --repo ALIAS: the repository of [repos], named in the report (the dashboard's commit links)
printf '[repos]\ntiny = %s\n' "$T/repo" >$T/alias.conf
(cd $T && PVLAB_CONFIG=$T/alias.conf run_pvlab $T/a1 bisect start --repo tiny --good HEAD~15 \
    --bad HEAD --test-cmd $T/det.sh --p 1 --json)
check "--repo ALIAS bisects the aliased repository" \
    bash -c "[ \"\$(json $T/a1.out '\$j->{result}{culprit}')\" = $want ]"
check "... and the report names the alias and the path" \
    bash -c "[ \"\$(json $T/a1.out '\$j->{alias}')\" = tiny ] &&
             [ \"\$(json $T/a1.out '\$j->{repo}')\" = $T/repo ]"
