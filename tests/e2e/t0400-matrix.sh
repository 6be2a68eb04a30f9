#!/usr/bin/env bash
# The regression matrix with real boots: a 2x2 matrix (Xen 4.17, 4.20 x Linux 6.1, 6.12 from
# Debian, few iterations) shows every cell with counts; a second run with the detector
# self-test in one cell shows that cell, and only it, as a REGRESSION against the first; the
# coordinator killed with -9 while trials run is resumed, and the store then holds exactly one
# result per planned trial.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dash_lib.sh"
plan 20
T=$PVLAB_HOME
cat >$T/m22.conf <<'EOF'
[matrix]
name = e2e-2x2
trials = 1
iterations = 100
[xen]
x4.17 = 4.17
x4.20 = 4.20
[linux]
l6.1 = 6.1
l6.12 = 6.12
[repro]
fpu-leak = fpu-leak
[bisect]
linux = lstable
EOF
cell() { matrix_cell "$1" xen "$2" linux "$3" "$4"; } # FILE XEN LINUX EXPR
export -f cell

run_pvlab $T/a matrix run $T/m22.conf --format json
tail -6 $T/a.err | diag
check "a 2x2 matrix runs: exit 0" [ $rc = 0 ]
check "every cell has a result: 4 cells, 4 trials done, all pass" \
    bash -c "[ \"\$(json $T/a.out 'scalar @{\$j->{cells}}')\" = 4 ] &&
             [ \"\$(json $T/a.out '\$j->{jobs}{done}')\" = 4 ] &&
             [ \"\$(json $T/a.out 'join \",\", map { \$_->{verdict} } @{\$j->{cells}}')\" = pass,pass,pass,pass ]"
check "each cell counts its boots and iterations, with the rate's upper bound" \
    bash -c "[ \"\$(cell $T/a.out x4.20 l6.12 '\$c->{rates}{iterations}')\" = 100 ] &&
             [ \"\$(cell $T/a.out x4.20 l6.12 '\$c->{rates}{boots}')\" = 1 ] &&
             perl -e 'exit !(\$ARGV[0] > 0 && \$ARGV[0] < 0.05)' \"\$(cell $T/a.out x4.20 l6.12 '\$c->{rates}{rate_hi95}')\""
check "each cell's run is in the store, what booted recorded" \
    bash -c "r=\$(cell $T/a.out x4.17 l6.1 '\$c->{run_id}') && \"$PVLAB\" show \$r --json >$T/r.json &&
             json $T/r.json '\$j->{xen}{version}' | grep -q '^4\\.17\\.' &&
             json $T/r.json '\$j->{linux}{version}' | grep -q '^6\\.1\\.'"
run_pvlab $T/at matrix show --format text
check "the text table names the axes and every cell" \
    bash -c "grep -q 'x4.17' $T/at.out && grep -q 'x4.20' $T/at.out &&
             [ \"\$(grep -o 'pass 0/100' $T/at.out | wc -l)\" = 4 ]"
run_pvlab $T/am matrix show --format md
check "the Markdown table is a table" bash -c "grep -q '^| Linux' $T/am.out && grep -q '^|---|' $T/am.out"

# the positive control: corruption injected in one cell only. REGRESSION needs the one boot's
# lower rate bound to make 100 clean iterations implausible (about 8 of 100 or more): at 0.1
# one run in five drew fewer; at 0.25 (25 expected) fewer than 8 is a 1-in-10^5 draw
run_pvlab $T/b matrix run $T/m22.conf --self-test-corrupt 0.25 --in-cells 'xen=x4.17 linux=l6.1' \
    --against previous --format json
tail -4 $T/b.err | diag
check "second run: the injected cell fails" [ "$(cell $T/b.out x4.17 l6.1 '$c->{verdict}')" = fail ]
check "... and is a REGRESSION against the first run" \
    [ "$(cell $T/b.out x4.17 l6.1 '$c->{change}')" = REGRESSION ]
check "... while the other three are unchanged (pass)" \
    [ "$(json $T/b.out 'join ",", map { $_->{change} } grep { $_->{verdict} eq "pass" } @{$j->{cells}}')" = pass,pass,pass ]
run_pvlab $T/n nightly $T/m22.conf --format json
check "nightly: the cell is clean again, FIXED, exit 0" \
    bash -c "[ $rc = 0 ] && [ \"\$(cell $T/n.out x4.17 l6.1 '\$c->{change}')\" = FIXED ]"

# several runs, one table (as docs/compat/bug40.md is made): a cell from the run named last
run_pvlab $T/mg matrix show 1,2 --format json
check "show 1,2: one table, the injected cell from run 2 (fail), the runs named" bash -c \
    "[ \"\$(cell $T/mg.out x4.17 l6.1 '\$c->{verdict} . \" \" . \$c->{matrix}')\" = 'fail 2' ] &&
     [ \"\$(json $T/mg.out 'join \",\", @{\$j->{matrices}}')\" = 1,2 ]"
run_pvlab $T/mh matrix show 2,1 --format json
check "... named the other way round: run 1's pass" \
    [ "$(cell $T/mh.out x4.17 l6.1 '$c->{verdict} . " " . $c->{matrix}')" = "pass 1" ]

# what changed, and the bisection that would find it, asked of a real dashboard
run_pvlab $T/bt matrix show 2 --against 1
check "the REGRESSION names its cause: nothing changed, so no bisection" bash -c \
    "grep -q 'changed: nothing (same images' $T/bt.out && ! grep -q 'bisect: ' $T/bt.out"
# the first night had booted another Linux (an older package of the same series)
r1=$(json $T/a.out 'my ($c) = grep { $_->{xen} eq "x4.17" && $_->{linux} eq "l6.1" } @{$j->{cells}}; $c->{run_id}')
now=$(sqlite3 $T/state/pvlab.db "SELECT linux_version FROM runs WHERE id = $r1")
tag=v$(echo "$now" | sed 's/-.*//')
sqlite3 $T/state/pvlab.db "UPDATE runs SET linux_version = '6.1.100-1', linux_sha256 = 'old'
    WHERE id = $r1"
mkdir -p $T/lstable && (cd $T/lstable && git init -q && git config user.email t@example.org &&
    git config user.name Tester && echo a > f && git add f && git commit -qm one &&
    git tag v6.1.100 && echo b > f && git commit -qam two && git tag "$tag")
TOKEN=$("$PVLAB" serve --db "$DB" --add-token lab1 2>/dev/null)
printf '[repos]\nlstable = %s\n[reporter]\ntoken = %s\nretries = 0\n' $T/lstable "$TOKEN" \
    > $T/dash.conf
export PVLAB_CONFIG=$T/dash.conf
start_dash main
run_pvlab $T/rb matrix show 2 --against 1 --request-bisections --to "$URL"
check "one image changed: the cause and the pvlab bisect command" bash -c \
    "grep -q 'changed: linux 6.1.100-1 -> $now' $T/rb.out &&
     grep -q 'bisect: pvlab bisect start --repo lstable --axis linux --find regression --good v6.1.100 --bad $tag --xen 4.17 --repro fpu-leak' $T/rb.out"
check "... and asked the dashboard to bisect it" \
    grep -q "bisection (v6.1.100..$tag in lstable) requested: request 1" $T/rb.err
get /api/v1/requests/1
check "the dashboard queued that request, and only it" bash -c \
    "[ \"\$(json $T/resp '\$j->{good} . \" \" . \$j->{bad} . \" \" . \$j->{axis} . \" \" . \$j->{xen} . \" \" . \$j->{state}')\" = 'v6.1.100 $tag linux 4.17 queued' ] &&
     [ \$(curl -s $URL/api/v1/requests | perl -MJSON::PP -e 'local \$/; print decode_json(<STDIN>)->{total}') = 1 ]"
stop_dash
unset PVLAB_CONFIG

# crash: kill -9 the coordinator while trials run, resume, count the results
cat >$T/m4.conf <<'EOF'
[matrix]
name = e2e-crash
trials = 3
iterations = 200
[xen]
x4.17 = 4.17
[linux]
l6.1 = 6.1
[repro]
fpu-leak = fpu-leak
EOF
"$PVLAB" matrix run $T/m4.conf --jobs 1 >$T/c.out 2>$T/c.err &
pid=$!
for i in $(seq 1 1800); do grep -q "fpu-leak #1: pass" $T/c.err && break; sleep 0.1; done
for i in $(seq 1 600); do qemu_running && break; sleep 0.1; done
kill -9 $pid
wait $pid 2>/dev/null
for i in $(seq 1 50); do no_qemu_left && break; sleep 0.1; done
id=$(sqlite3 $T/state/pvlab.db "SELECT max(id) FROM matrices WHERE name = 'e2e-crash'")
done_before=$(sqlite3 $T/state/pvlab.db "SELECT count(*) FROM matrix_jobs WHERE matrix_id = $id AND state = 'done'")
left=0; qemu_running && left=1
check "killed mid-run: some trials done, not all ($done_before of 3), no QEMU left" \
    bash -c "[ $done_before -ge 1 ] && [ $done_before -lt 3 ] && [ $left = 0 ]"
run_pvlab $T/r matrix resume "$id" --format json
tail -3 $T/r.err | diag
check "matrix resume finishes it (exit 0, done)" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/r.out '\$j->{status}')\" = done ]"
run_id=$(json $T/r.out '$j->{cells}[0]{run_id}')
check "the store holds exactly one result per planned trial (3, indexes 1..3)" \
    [ "$(sqlite3 $T/state/pvlab.db "SELECT count(*) || ':' || group_concat(idx) FROM (SELECT idx FROM trials WHERE run_id = $run_id ORDER BY idx)")" = "3:1,2,3" ]
run_pvlab $T/r2 matrix resume "$id"
check "resuming a finished matrix is refused" bash -c "[ $rc != 0 ] && grep -q 'already done' $T/r2.err"
