#!/usr/bin/env bash
# The published bug #40 matrix (config/matrix/bug40.conf) parses, every Debian spec and
# reproducer in it resolves, and every self-built kernel names a recorded source: with no clones
# here, `matrix check` lists one `git clone URL PATH` per source and exits 1, builds nothing and
# fetches nothing. Negative controls: a spec whose commit differs from its source, and a clone
# whose commit has another tree, are refused (exit 2).
. "$(dirname "$0")/lib.sh"
plan 7
T=$PVLAB_HOME
export PVLAB_CACHE_DIR=$T/cache HOME=$T/home
mkdir -p $HOME
CONF=$TOP/config/matrix/bug40.conf
nsrc=$(sed -n '/^\[sources\]/,$p' $CONF | grep -c '^linux-')
nrep=$(sed -n '/^\[repro\]/,/^\[exclude\]/p' $CONF | grep -c '^[a-z]')

run_pvlab $T/a matrix check $CONF --json
check "bug40.conf: exit 1 (sources not cloned here), the JSON says why" \
    bash -c "[ $rc = 1 ] && grep -q '\"ok\":false' $T/a.out"
check "every [sources] line has a clone command, and none is unused ($nsrc sources)" \
    bash -c "[ $nsrc -ge 4 ] && [ \$(grep -o 'git clone --no-checkout https://github.com/' $T/a.out | wc -l) = $nsrc ] && grep -q '\"unused_sources\":\[\]' $T/a.out"
check "cells: xen 4.14/4.17/4.20 x the ladder x its $nrep reproducer rows, less exclusions" \
    bash -c "[ $nrep -ge 4 ] && grep -q '\"xen\":3' $T/a.out && grep -q '\"repro\":$nrep' $T/a.out && grep -Eq '\"cells\":[1-9][0-9]+' $T/a.out"
check "nothing fetched or built" bash -c "[ ! -d $T/cache/apt ] && [ ! -d $T/cache/artifacts ]"

# a spec naming another commit than its source records
sed 's/\(3.10.108 = git:.*@\)3f165a1d/\1aaaaaaaa/' $CONF >$T/bad-commit.conf
run_pvlab $T/b matrix check $T/bad-commit.conf
check "a spec whose commit is not the recorded one: exit 2, its line named" \
    bash -c "[ $rc = 2 ] && grep -q 'bad-commit.conf:[0-9]*: \[linux\] 3.10.108' $T/b.err && grep -q 'name it in full' $T/b.err"

# a clone whose recorded commit has another tree (a repository the test makes)
mkdir -p $HOME/src/pvlab-ladder/linux-4.1.5
( cd $HOME/src/pvlab-ladder/linux-4.1.5 && git init -q && printf 'VERSION = 4\nPATCHLEVEL = 1\nSUBLEVEL = 5\n' >Makefile &&
  git add Makefile && git -c user.email=t@t -c user.name=t commit -qm 4.1.5 )
commit=$(git -C $HOME/src/pvlab-ladder/linux-4.1.5 rev-parse HEAD)
sed "s/fd72f9327fb7d62969384846931f90a35ba5a991/$commit/g" $CONF >$T/bad-tree.conf
run_pvlab $T/c matrix check $T/bad-tree.conf
check "a clone whose commit has another tree than recorded: exit 2, 'not the content'" \
    bash -c "[ $rc = 2 ] && grep -q 'not the content the file names' $T/c.err"
tree=$(git -C $HOME/src/pvlab-ladder/linux-4.1.5 rev-parse HEAD^{tree})
sed "s/fd72f9327fb7d62969384846931f90a35ba5a991/$commit/g; s/32a132475dfceef53ecacd45c53a6b537bce6c5e/$tree/" $CONF >$T/good-tree.conf
run_pvlab $T/d matrix check $T/good-tree.conf
check "... and with its own tree recorded it is verified (one fewer clone missing)" \
    bash -c "[ $rc = 1 ] && grep -q '1 cloned here with the recorded tree' $T/d.out && [ \$(grep -c 'not cloned:' $T/d.out) = $((nsrc - 1)) ]"
