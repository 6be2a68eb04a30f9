#!/usr/bin/env bash
# A bisection whose trial is a plug-in, with real boots: a repository of a lab's kernel choice
# (each commit names the dom0 kernel image to boot; --build-cmd prints it), where one commit
# moves dom0 from Debian's 6.1 to Debian's 5.10. The trial is a shell plug-in that fails when
# dom0's kernel is not the release its --want parameter names (given by --repro-args), so the
# plug-in's arguments must reach every trial through `pvlab trial`. It must name that commit.
. "$(dirname "$0")/../lib.sh"
plan 6
T=$PVLAB_HOME
multiboot_dom0() { # qemu -kernel is Xen; dom0 is the first module of -initrd
    "$PVLAB" run --xen 4.17 --linux "$1" --print-qemu-cmd 2>/dev/null |
        perl -ne 'print "$1\n" if /-initrd \x27?([^ \x27,]+)/' | head -1
}
k61=$(multiboot_dom0 6.1)
k510=$(multiboot_dom0 5.10)
check "both Debian kernels are in the cache" bash -c "[ -f '$k61' ] && [ -f '$k510' ] && [ '$k61' != '$k510' ]"
repo=$T/lab
mkdir -p $repo
(cd $repo && git init -q && git config user.email t@example.org && git config user.name Tester &&
    for i in $(seq 1 12); do
        if [ $i -ge 8 ]; then echo "$k510" > dom0-kernel; else echo "$k61" > dom0-kernel; fi
        echo "lab revision $i" > README
        git add -A && git commit -qm "lab: revision $i"
    done)
want=$(git -C $repo rev-parse HEAD~4)   # revision 8
cat > $T/kernel-is.sh <<'EOS'
#!/bin/sh
# passes when dom0 runs the release --want=PREFIX names
want=none
for a in "$@"; do case "$a" in --want=*) want=${a#--want=} ;; esac; done
r=$(uname -r)
case "$r" in "$want"*) echo "kernel $r"; exit 0 ;; esac
echo "kernel $r is not $want"
exit 1
EOS
run_pvlab $T/b bisect start --repo $repo --good HEAD~11 --bad HEAD --axis linux \
    --build-cmd 'cat dom0-kernel' --xen 4.17 --repro script:$T/kernel-is.sh --repro-args --want=6.1. \
    --check-good 1 --json
check_bisect_answer $T/b "$want" "the commit that moved dom0 to 5.10"
check "every trial's run recorded the plug-in and its arguments" \
    bash -c "for r in \$(\"$PVLAB\" list --json --limit 1000 | perl -MJSON::PP -e 'local \$/; print join q( ), map { \$_->{id} } @{decode_json(<STDIN>)}'); do \"$PVLAB\" show \$r --json | perl -MJSON::PP -e 'local \$/; my \$j = decode_json(<STDIN>); exit !(\$j->{params}{plugin}{name} eq q(kernel-is) && \$j->{params}{repro_args} eq q(--want=6.1.))' || exit 1; done"
# the same dom0 image at several commits is the same machine: later trials restore it
origins=$(for r in $("$PVLAB" list --json --limit 1000 | perl -MJSON::PP -e 'local $/; print join q( ), map { $_->{id} } @{decode_json(<STDIN>)}'); do
    "$PVLAB" show $r --json | perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); print +((split / /, $j->{trials}[0]{snapshot} // "fresh")[0]), "\n"'; done | sort | uniq -c | tr '\n' ' ')
echo "# trial origins: $origins" >&2
check "snapshot trials (the default): trials restored a saved machine" \
    bash -c "grep -q restored <<<'$origins'"
echo "# $(json $T/b.out '$j->{result}{trials}') trials" >&2
