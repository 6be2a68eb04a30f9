#!/usr/bin/env bash
# pvlab build on bad input and on a tree that does not build (fast: fake trees, no kernel):
# usage errors exit 2, a failed build exits 125 (skip for git bisect) with the log's error
# lines, a fragment option that does not survive olddefconfig is named.
. "$(dirname "$0")/../lib.sh"
plan 14
T=$PVLAB_HOME
export PVLAB_CACHE_DIR=$T/cache # fake trees stay out of the shared cache
mkdir -p $T/notgit $T/broken $T/dropper $T/filler $T/emptyroot
fake_makefile() { # $1 dir, $2 olddefconfig recipe, $3 bzImage recipe
    printf 'VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\n' >"$1/Makefile"
    printf 'tinyconfig:\n\techo CONFIG_64BIT=y > $(O)/.config\n' >>"$1/Makefile"
    printf 'olddefconfig:\n\t%s\n' "$2" >>"$1/Makefile"
    printf 'bzImage:\n\t%s\n' "$3" >>"$1/Makefile"
}
fake_makefile $T/broken true "@echo 'init/main.c:7:2: error: expected declaration' >&2; exit 2"
fake_makefile $T/dropper "sed -i /XEN_DOM0/d \$(O)/.config" true
fake_makefile $T/filler true "head -c 4M /dev/zero > \$(O)/filler; mkdir -p \$(O)/arch/x86/boot; \
{ head -c 514 /dev/zero; printf HdrS; head -c 2000 /dev/zero; } > \$(O)/arch/x86/boot/bzImage"

run_pvlab $T/a build linux
check "no source: exit 2" [ $rc = 2 ]
run_pvlab $T/b build linux --repo $T/notgit
check "not a git repository: exit 2, says so" \
    bash -c "[ $rc = 2 ] && grep -q 'not a git repository' $T/b.err"
git -C $T/broken init -q && git -C $T/broken -c user.email=t@t -c user.name=t add Makefile &&
    git -C $T/broken -c user.email=t@t -c user.name=t commit -qm one
run_pvlab $T/c build linux --repo $T/broken --rev no-such-tag
check "unknown rev: exit 3, names it" \
    bash -c "[ $rc = 3 ] && grep -q 'no-such-tag' $T/c.err"
run_pvlab $T/d build linux --repo $T/broken --toolchain host
check "a tree that does not build: exit 125 (skip)" [ $rc = 125 ]
check "... with the compiler's error line" grep -q "error: expected declaration" $T/d.err
check "the user's checkout is untouched" [ -z "$(git -C $T/broken status --porcelain)" ]
run_pvlab $T/e build linux --srcdir $T/dropper --toolchain host
check "a dropped fragment option: exit 125, named" \
    bash -c "[ $rc = 125 ] && grep -q 'CONFIG_XEN_DOM0' $T/e.err"
run_pvlab $T/f build linux --srcdir $T/dropper --toolchain nosuch
check "unknown toolchain profile: exit 3, names it" \
    bash -c "[ $rc = 3 ] && grep -q nosuch $T/f.err"
run_pvlab $T/g run --linux "git:$T/broken@HEAD" --xen 4.17 --print-qemu-cmd
check "pvlab run --linux git:... on a broken tree: skip, exit 125, before booting" \
    bash -c "[ $rc = 125 ] && grep -q 'error: expected declaration' $T/g.err"
run_pvlab $T/h run --linux "git:$T/broken@HEAD" --xen 4.17 --json -q
check "... and --json says verdict skip (what pvlab bisect reads)" \
    bash -c "[ $rc = 125 ] && [ \"\$(json $T/h.out '\$j->{verdict}')\" = skip ]"
run_pvlab $T/i build linux --srcdir $T/dropper --toolchain chroot:$T/emptyroot
check "a toolchain without its compiler: exit 3, says which compiler and how to get one" \
    bash -c "[ $rc = 3 ] && grep -q \"compiler 'gcc' not found in the chroot toolchain\" $T/i.err"

# disk full during a build: the compiler's complaint cannot reach the log (same disk), and it
# must not pass for a commit that does not build (a skip would step over good commits)
mnt=$T/small
mkdir -p $mnt
if mount -t tmpfs -o size=1m tmpfs $mnt 2>/dev/null; then
    trap 'umount $mnt 2>/dev/null; cleanup' EXIT
    PVLAB_CACHE_DIR=$mnt/cache run_pvlab $T/j build linux --srcdir $T/filler --toolchain host
    cat $T/j.err | diag
    check "disk full while building: exit 3, not 125 (skip)" [ $rc = 3 ]
    check "... says the disk is full and how to free space" \
        grep -q "disk full while building linux.*pvlab cache gc" $T/j.err
    umount $mnt
    mount -t tmpfs -o size=64m tmpfs $mnt
    PVLAB_CACHE_DIR=$mnt/cache run_pvlab $T/k build linux --srcdir $T/filler --toolchain host
    cat $T/k.err | diag
    check "the same build with room to spare succeeds (negative control)" [ $rc = 0 ]
else
    for i in 1 2 3; do ok "# skip cannot mount a tmpfs (not root?)"; done
fi
