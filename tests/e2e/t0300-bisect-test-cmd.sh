#!/usr/bin/env bash
# pvlab bisect with --test-cmd on repositories the test creates: a flaky regression (p = 0.5)
# and a fix are found, checks stop a bisection whose ends disagree with the request, and bad
# input gets clear errors.
. "$(dirname "$0")/lib.sh"
plan 18
T=$PVLAB_HOME

# make_repo DIR N FROM: N commits; the file "bug" exists from commit FROM on
make_repo() {
    mkdir -p "$1" && (cd "$1" && git init -q && git config user.email t@example.org &&
        git config user.name Tester &&
        for i in $(seq 1 "$2"); do
            echo "$i" > counter
            [ "$i" -ge "$3" ] && echo 1 > bug
            [ "$i" -ge "$3" ] || rm -f bug
            git add -A && git commit -qm "commit $i"
        done)
}
# a flaky test: with the bug present it fails half the time. The coin is a hash of a call
# counter, so the sequence (and with one worker the whole bisection) is the same on every run:
# the test cannot flake, and a wrong answer is a real regression of the engine.
cat > $T/flaky.sh <<EOS
#!/bin/sh
[ -f bug ] || exit 0
n=\$(cat $T/coin 2>/dev/null || echo 0)
n=\$((n + 1))
echo \$n > $T/coin
h=\$(echo "coin-\$n" | cksum | cut -d' ' -f1)
[ \$((h % 2)) = 0 ] && exit 1
exit 0
EOS
chmod +x $T/flaky.sh
make_repo $T/reg 30 17
want=$(git -C $T/reg rev-parse HEAD~13)   # commit 17

run_pvlab $T/b1 bisect start --repo $T/reg --good HEAD~29 --bad HEAD --test-cmd $T/flaky.sh --json
tail -3 $T/b1.err | diag
check "flaky regression: exit 0 (found)" [ $rc = 0 ]
check "flaky regression: names commit 17" [ "$(json $T/b1.out '$j->{result}{culprit}')" = "$want" ]
check "confidence reaches 0.95" \
    perl -e 'exit !($ARGV[0] >= 0.95)' "$(json $T/b1.out '$j->{result}{probability}')"
check "the bad end was checked and failed" [ "$(json $T/b1.out '$j->{result}{check_bad}{fails}')" = 1 ]
check "the good end was checked twice" \
    [ "$(json $T/b1.out '$j->{result}{check_good}[0]{trials}')" = 2 ]
check "the answer and its parent were re-tested" \
    bash -c "[ \"\$(json $T/b1.out '\$j->{result}{verify}{parent_trials}')\" -ge 1 ]"
id=$(json $T/b1.out '$j->{id}')
run_pvlab $T/log bisect log $id
check "bisect log is git-bisect style" \
    bash -c "grep -q '^git bisect bad $want' $T/log.out && grep -q '^git bisect start' $T/log.out"

# merge history: the bug comes in on a side branch (commit b4) merged into the mainline
mkdir -p $T/merge && (cd $T/merge && git init -q -b main && git config user.email t@example.org &&
    git config user.name Tester &&
    for i in $(seq 1 5); do echo m$i > main.txt; git add -A; git commit -qm "m$i"; done &&
    git checkout -q -b side && for i in $(seq 1 8); do echo b$i > side.txt
        [ $i -ge 4 ] && echo 1 > bug; git add -A; git commit -qm "b$i"; done &&
    git checkout -q main && for i in $(seq 6 10); do echo m$i > main.txt; git add -A
        git commit -qm "m$i"; done &&
    git merge -q --no-edit side && for i in $(seq 12 15); do echo m$i > main.txt; git add -A
        git commit -qm "m$i"; done)
wantmerge=$(git -C $T/merge log --format=%H --grep='^b4$')
run_pvlab $T/m1 bisect start --repo $T/merge --good main~9 --bad main --test-cmd $T/flaky.sh --json
check "merge history: names b4 inside the merged branch" \
    [ "$(json $T/m1.out '$j->{result}{culprit}')" = "$wantmerge" ]
# a culprit that is the merge itself: both sides are clean, the merge adds the bug
mkdir -p $T/merge2 && (cd $T/merge2 && git init -q -b main && git config user.email t@example.org &&
    git config user.name Tester &&
    for i in 1 2 3; do echo m$i > main.txt; git add -A; git commit -qm "m$i"; done &&
    git checkout -q -b side && for i in 1 2 3; do echo b$i > side.txt; git add -A
        git commit -qm "b$i"; done &&
    git checkout -q main && for i in 4 5; do echo m$i > main.txt; git add -A; git commit -qm "m$i"
        done && git merge -q --no-commit side && echo 1 > bug && git add -A &&
    git commit -qm "merge side with the bug" && for i in 6 7; do echo m$i > main.txt; git add -A
        git commit -qm "m$i"; done)
wantm=$(git -C $T/merge2 log --format=%H --grep='^merge side')
run_pvlab $T/m2 bisect start --repo $T/merge2 --good main~5 --bad main --test-cmd $T/flaky.sh --json
check "merge history: names the merge commit that brought the bug" \
    [ "$(json $T/m2.out '$j->{result}{culprit}')" = "$wantm" ]

# fix: the bug disappears at commit 9 (bad = old end)
mkdir -p $T/fix && (cd $T/fix && git init -q && git config user.email t@example.org &&
    git config user.name Tester && for i in $(seq 1 20); do
        echo $i > counter; if [ $i -lt 9 ]; then echo 1 > bug; else rm -f bug; fi
        git add -A; git commit -qm "commit $i"; done)
wantfix=$(git -C $T/fix rev-parse HEAD~11)   # commit 9
run_pvlab $T/f1 bisect start --repo $T/fix --good HEAD --bad HEAD~19 --find fix \
    --test-cmd $T/flaky.sh --json
check "flaky fix: names commit 9" [ "$(json $T/f1.out '$j->{result}{culprit}')" = "$wantfix" ]

# deterministic test, p = 1: exactly the plain bisection's number of bisect steps
cat > $T/det.sh <<'EOS'
#!/bin/sh
[ -f bug ] && exit 1
exit 0
EOS
chmod +x $T/det.sh
make_repo $T/det 33 20
run_pvlab $T/d1 bisect start --repo $T/det --good HEAD~32 --bad HEAD --test-cmd $T/det.sh \
    --p 1 --check-good 1 --no-verify --json
steps=$(json $T/d1.out 'scalar grep { $_->{phase} eq "bisect" } @{$j->{trials}}')
check "p = 1: found with ceil(log2 32) = 5 bisect steps (got $steps)" \
    bash -c "[ '$(json $T/d1.out '$j->{result}{culprit}')' = '$(git -C $T/det rev-parse HEAD~13)' ] && [ $steps = 5 ]"

# checks: the good end fails / the bad end never fails -> stop and report, never guess
run_pvlab $T/c1 bisect start --repo $T/reg --good HEAD~5 --bad HEAD --test-cmd $T/det.sh --json
check "good end failing is reported, exit 1" \
    bash -c "[ $rc = 1 ] && [ \"\$(json $T/c1.out '\$j->{result}{outcome}')\" = good-end-fails ]"
run_pvlab $T/c2 bisect start --repo $T/reg --good HEAD~29 --bad HEAD~20 --test-cmd $T/det.sh \
    --check-bad 5 --json
check "bad end passing is reported, exit 1" \
    bash -c "[ $rc = 1 ] && [ \"\$(json $T/c2.out '\$j->{result}{outcome}')\" = bad-end-passes ]"

# bad input
run_pvlab $T/e1 bisect start --repo $T/reg --good nosuchrev --bad HEAD --test-cmd true
check "unknown revision is named" bash -c "[ $rc = 2 ] && grep -q \"unknown revision 'nosuchrev'\" $T/e1.err"
run_pvlab $T/e2 bisect start --repo $T/reg --good HEAD --bad HEAD~5 --test-cmd true
check "good not an ancestor of bad suggests --find fix" \
    bash -c "[ $rc = 2 ] && grep -q -- '--find fix' $T/e2.err"
mkdir -p $T/plain
run_pvlab $T/e3 bisect start --repo $T/plain --good a --bad b --test-cmd true
check "not a repository" bash -c "[ $rc = 2 ] && grep -q 'not a git repository' $T/e3.err"
echo dirty >> $T/reg/counter
run_pvlab $T/e4 bisect start --repo $T/reg --good HEAD~3 --bad HEAD --test-cmd true
check "dirty work tree is refused" bash -c "[ $rc = 2 ] && grep -q 'uncommitted changes' $T/e4.err"
git -C $T/reg checkout -q counter
run_pvlab $T/e5 bisect start --repo $T/reg --good HEAD~3 --bad HEAD
check "no trial kind given" bash -c "[ $rc = 2 ] && grep -q -- '--test-cmd' $T/e5.err"

# kill -9 and resume: tests/e2e/t0310 (a deterministic kill point, compared trial by trial)
