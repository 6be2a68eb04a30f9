# Shared helpers for the end-to-end tests (TAP, run under prove).
# Each test gets a private PVLAB_HOME (store, logs), removed by a trap; the artifact cache is
# shared between tests (PVLAB_TEST_CACHE, default build/test-cache) so Debian packages are
# downloaded once.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
[ -d "$TOP/tests/e2e" ] || TOP=$(cd "$(dirname "$0")/../../.." && pwd)
PVLAB="$TOP/pvlab"
export PVLAB_HOME=$(mktemp -d /tmp/pvlab-e2e.XXXXXX)
export PVLAB_CACHE_DIR="${PVLAB_TEST_CACHE:-$TOP/build/test-cache}"
unset PVLAB_CONFIG PVLAB_STATE_DIR
_tap_n=0
_tap_failed=0

cleanup() {
    # stop anything this test started (QEMU is in its own process group under pvlab)
    pkill -f "$PVLAB_HOME" 2>/dev/null || true
    if [ "$_tap_failed" = 0 ] || [ -z "${PVLAB_KEEP:-}" ]; then
        rm -rf "$PVLAB_HOME"
    else
        echo "# kept $PVLAB_HOME" >&2
    fi
}
trap cleanup EXIT INT TERM

plan() { echo "1..$1"; }
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1"; }
not_ok() { _tap_n=$((_tap_n + 1)); _tap_failed=1; echo "not ok $_tap_n - $1"; }
diag() { sed 's/^/# /' >&2; }

# check DESCRIPTION COMMAND...: ok when the command succeeds
check() {
    local d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}

# json FILE EXPR: evaluate a Perl expression on the decoded JSON ($j), print the result
json() {
    perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die; my $j = decode_json(<$f>);
        my $r = eval $ARGV[1]; die $@ if $@; print defined $r ? $r : "", "\n"' "$1" "$2"
}

# run_pvlab OUT_PREFIX ARGS...: runs pvlab, stdout to PREFIX.out, stderr to PREFIX.err,
# exit status to $rc
run_pvlab() {
    local p=$1
    shift
    "$PVLAB" "$@" >"$p.out" 2>"$p.err"
    rc=$?
}
export -f json

# matrix_cell FILE AXIS1 LABEL1 AXIS2 LABEL2 EXPR: EXPR (Perl, $c the cell) of the cell of a
# `matrix ... --format json` document whose labels on the two axes (xen, linux, repro) match
matrix_cell() {
    json "$1" "my (\$c) = grep { \$_->{'$2'} eq '$3' && \$_->{'$4'} eq '$5' } @{\$j->{cells}}; $6"
}
export -f matrix_cell

# check_bisect_answer PREFIX WANT WHAT: three checks of a `run_pvlab PREFIX bisect start ...
# --json`: it found a culprit (exit 0), the culprit is WANT (WHAT says what that commit is), and
# the answer is stated with P >= 0.95
check_bisect_answer() {
    tail -n 40 "$1.err" | diag
    check "bisection found a culprit (exit 0)" [ "$rc" = 0 ]
    check "it names $3" [ "$(json "$1.out" '$j->{result}{culprit}')" = "$2" ]
    check "the answer is stated with its confidence" \
        perl -e 'exit !($ARGV[0] >= 0.95)' "$(json "$1.out" '$j->{result}{probability}')"
}

# qemu_running / no_qemu_left: whether a QEMU of this test's state directory is running
qemu_running() {
    pgrep -f "qemu-system.*$PVLAB_HOME" >/dev/null
}
no_qemu_left() {
    ! qemu_running
}
