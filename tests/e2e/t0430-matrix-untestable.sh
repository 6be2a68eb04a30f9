#!/usr/bin/env bash
# A kernel that does not build keeps its cells, recorded as untestable with the build's reason,
# and the rest of the matrix runs: a fake tree whose make fails next to Debian's 6.1 (real
# boots). The failed build is tried once, not once per cell; the negative control is 6.1's
# cells, which boot and pass.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dash_lib.sh"
plan 7
T=$PVLAB_HOME
mkdir -p $T/broken
{
    printf 'VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\n'
    printf 'tinyconfig:\n\techo CONFIG_64BIT=y > $(O)/.config\n'
    printf 'olddefconfig:\n\ttrue\n'
    printf "bzImage:\n\t@echo 'init/main.c:7:2: error: expected declaration' >&2; exit 2\n"
} >$T/broken/Makefile
git -C $T/broken init -q && git -C $T/broken -c user.email=t@t -c user.name=t add Makefile &&
    git -C $T/broken -c user.email=t@t -c user.name=t commit -qm one
cat >$T/u.conf <<EOF2
[matrix]
name = e2e-untestable
trials = 2
iterations = 50
[xen]
x4.17 = 4.17
[linux]
l6.1 = 6.1
broken = git:$T/broken@HEAD?toolchain=host
[repro]
a = fpu-leak
b = fpu-leak --workers 2
EOF2
cell() { matrix_cell "$1" linux "$2" repro "$3" "$4"; } # FILE LINUX REPRO EXPR
export -f cell

run_pvlab $T/a matrix run $T/u.conf --format json
tail -12 $T/a.err | diag
check "a matrix with a kernel that does not build still runs: exit 0, every trial recorded" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/a.out '\$j->{jobs}{done}')\" = 8 ]"
check "the broken kernel's cells: verdict skip, 2 of 2 trials skipped, the build's reason" \
    bash -c "[ \"\$(cell $T/a.out broken a '\$c->{verdict}')\" = skip ] &&
             [ \"\$(cell $T/a.out broken b '\$c->{skipped}')\" = 2 ] &&
             cell $T/a.out broken b '\$c->{untestable}' | grep -q 'does not build' &&
             ! cell $T/a.out broken b '\$c->{untestable}' | grep -q ':\$'"
check "the negative control: 6.1's cells booted and pass" \
    bash -c "[ \"\$(cell $T/a.out l6.1 a '\$c->{verdict}')\" = pass ] &&
             [ \"\$(cell $T/a.out l6.1 b '\$c->{rates}{boots}')\" = 2 ]"
check "the failed build was tried once for its two cells" \
    [ "$(grep -c '^untestable' $T/a.err)" = 1 ]
run_pvlab $T/b matrix show --format text
check "the text table says untestable and lists why" \
    bash -c "grep -q 'untestable 2/2' $T/b.out && grep -q 'x4.17 x broken x a: .*does not build' $T/b.out"
run_pvlab $T/c matrix show --format md
check "the published table keeps the row, with why under it" \
    bash -c "grep -q '### Could not be tested' $T/c.out && grep -q '^- x4.17 x broken x b: ' $T/c.out"
r=$(cell $T/a.out broken a '$c->{run_id}')
check "the skipped trial's log holds the compiler's error line" \
    grep -q 'error: expected declaration' $PVLAB_HOME/state/runs/$r/trial-1.log
