#!/usr/bin/env bash
# A bisection killed with -9 at a fixed trial and resumed must run exactly the trials an
# uninterrupted bisection runs (replaying the stored trials rebuilds the engine: a replay that
# fed nothing would choose other commits); of two resumes at once one is refused and the other
# finishes right; what the killed bisection's trial left running is killed by the resume.
. "$(dirname "$0")/lib.sh"
plan 9
T=$PVLAB_HOME

mkdir -p $T/repo $T/coins
(cd $T/repo && git init -q && git config user.email t@example.org && git config user.name Tester &&
    for i in $(seq 1 40); do
        echo "$i" >counter
        if [ "$i" -ge 23 ]; then echo 1 >bug; else rm -f bug; fi
        git add -A && git commit -qm "commit $i"
    done)
want=$(git -C $T/repo rev-parse HEAD~17) # commit 23
cat >$T/orphan.sh <<'EOS'
#!/bin/sh
sleep 300
EOS
# a flaky test whose coin is a hash of (commit, how often this commit was tried), so the
# outcome of a trial depends only on its commit and its turn: an interrupted bisection that
# resumes correctly sees the same outcomes as one that was never interrupted. With a kill-at
# file, the Nth call starts a long-lived grandchild and kills the bisection, before its coin.
cat >$T/pc.sh <<EOS
#!/bin/sh
if [ -f $T/kill-at ]; then
    g=\$((\$(cat $T/calls 2>/dev/null || echo 0) + 1)); echo \$g >$T/calls
    if [ "\$g" = "\$(cat $T/kill-at)" ]; then
        rm -f $T/kill-at
        $T/orphan.sh &
        kill -9 \$(cat $T/bisect.pid)
        sleep 2
        exit 0
    fi
fi
[ -f bug ] || exit 0
f=$T/coins/\$1
n=\$((\$(cat \$f 2>/dev/null || echo 0) + 1)); echo \$n >\$f
h=\$(echo "\$1-\$n" | cksum | cut -d' ' -f1)
[ \$((h % 3)) = 0 ] && exit 1
exit 0
EOS
chmod +x $T/pc.sh $T/orphan.sh
seqof() { json "$1" 'join " ", map { substr($_->{commit}, 0, 8) . ":" . $_->{outcome} } @{$j->{trials}}'; }

run_pvlab $T/a bisect start --repo $T/repo --good HEAD~39 --bad HEAD --test-cmd $T/pc.sh --json
check "uninterrupted: names commit 23" [ "$(json $T/a.out '$j->{result}{culprit}')" = "$want" ]
ntrials=$(json $T/a.out 'scalar @{$j->{trials}}')

rm -rf $T/coins/*
echo 7 >$T/kill-at
"$PVLAB" bisect start --repo $T/repo --good HEAD~39 --bad HEAD --test-cmd $T/pc.sh \
    >/dev/null 2>$T/b.err &
echo $! >$T/bisect.pid
wait $!
check "the 7th trial killed the bisection (kill -9)" [ ! -f $T/kill-at ]
check "... and left a grandchild running" bash -c "pgrep -f '^/bin/sh $T/orphan.sh' >/dev/null"
id=$(sed -n 's/.*bisection \([0-9]*\):.*/\1/p' $T/b.err | head -1)

# two resumes at once: one claims it, the other is refused before running anything
"$PVLAB" bisect resume "$id" --json >$T/r1.out 2>$T/r1.err &
p1=$!
"$PVLAB" bisect resume "$id" --json >$T/r2.out 2>$T/r2.err &
p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
echo "# resumes exited $rc1 and $rc2" >&2
if [ $rc1 = 0 ]; then win=r1; lose=r2; rcl=$rc2; else win=r2; lose=r1; rcl=$rc1; fi
check "two resumes at once: one finishes (exit 0)" [ $rc1 = 0 -o $rc2 = 0 ]
check "... the other is refused: still running in another process" \
    bash -c "[ $rcl != 0 ] && grep -q 'is running in pvlab process' $T/$lose.err"
check "the resumed bisection names commit 23" [ "$(json $T/$win.out '$j->{result}{culprit}')" = "$want" ]
check "... after the same $ntrials trials as the uninterrupted one, in the same order" \
    [ "$(seqof $T/$win.out)" = "$(seqof $T/a.out)" ]
check "the grandchild the killed trial left is gone" bash -c "! pgrep -f '^/bin/sh $T/orphan.sh' >/dev/null"
check "the resume said it killed it" grep -q "killed 1 trial process group" "$T/$win.err"
