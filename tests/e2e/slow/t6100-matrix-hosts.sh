#!/usr/bin/env bash
# The matrix fanned out over ssh with GNU parallel, no mock: the test starts two sshd on
# loopback ports, each with its own host key and an authorized key it makes, as two "hosts",
# plus a third host that nothing answers. The 2x2 matrix runs on both hosts; one host is killed
# (its sshd and everything under it) while trials run, and its trials are finished by the
# other. The store holds one result per planned trial, each naming the host it ran on.
. "$(dirname "$0")/../lib.sh"
T=$PVLAB_HOME
for tool in parallel sshd rsync ssh-keygen; do
    if ! command -v $tool >/dev/null && [ ! -x /usr/sbin/$tool ]; then
        echo "1..0 # SKIP $tool missing (scripts/install-deps.sh installs it)"
        exit 0
    fi
done
plan 8
mkdir -p /run/sshd $T/ssh
ssh-keygen -q -t ed25519 -N '' -f $T/ssh/host_key
ssh-keygen -q -t ed25519 -N '' -f $T/ssh/user_key
cp $T/ssh/user_key.pub $T/ssh/authorized_keys
chmod 600 $T/ssh/authorized_keys
P1=$((20000 + RANDOM % 20000))
P2=$((P1 + 1))
P3=$((P1 + 2)) # nothing listens here
start_sshd() { # PORT
    cat >$T/ssh/sshd_$1 <<EOF
Port $1
ListenAddress 127.0.0.1
HostKey $T/ssh/host_key
AuthorizedKeysFile $T/ssh/authorized_keys
PidFile $T/ssh/sshd_$1.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
UsePAM no
EOF
    /usr/sbin/sshd -f $T/ssh/sshd_$1 -E $T/ssh/sshd_$1.log
}
start_sshd $P1
start_sshd $P2
trap 'kill $(cat $T/ssh/sshd_*.pid 2>/dev/null) 2>/dev/null; cleanup' EXIT
for i in $(seq 1 50); do [ -f $T/ssh/sshd_$P1.pid ] && [ -f $T/ssh/sshd_$P2.pid ] && break; sleep 0.1; done
ssh_opts="-i $T/ssh/user_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
cat >$T/hosts <<EOF
# two hosts of one trial at a time, and one that does not answer
1/ssh -p $P1 $ssh_opts root@127.0.0.1
1/ssh -p $P2 $ssh_opts root@127.0.0.1
1/ssh -p $P3 $ssh_opts root@127.0.0.1
EOF
cat >$T/m.conf <<'EOF'
[matrix]
name = e2e-hosts
trials = 2
iterations = 300
[xen]
x4.17 = 4.17
x4.20 = 4.20
[linux]
l6.1 = 6.1
l6.12 = 6.12
[repro]
fpu-leak = fpu-leak
EOF

# kill the second host once a trial has finished there and another runs
(
    for i in $(seq 1 3000); do
        n=$(sqlite3 $T/state/pvlab.db "SELECT count(*) FROM trials WHERE host LIKE '%:$P2 %'" 2>/dev/null)
        [ "${n:-0}" -ge 1 ] && break
        sleep 0.2
    done
    sleep 3
    pid=$(cat $T/ssh/sshd_$P2.pid)
    # the daemon and every session under it (the host is gone, with its trials)
    for p in $(pgrep -P $pid) $pid; do pkill -9 -P $p 2>/dev/null; kill -9 $p 2>/dev/null; done
    echo killed >$T/killed
) &
killer=$!
run_pvlab $T/a matrix run $T/m.conf --hosts $T/hosts --remote-pvlab "$PVLAB" --format json
wait $killer
tail -12 $T/a.err | diag
check "the matrix ran over ssh: exit 0, done" \
    bash -c "[ $rc = 0 ] && [ \"\$(json $T/a.out '\$j->{status}')\" = done ]"
check "the unreachable host was reported and left out" \
    grep -q "host '1/ssh -p $P3 .*' cannot be reached, left out" $T/a.err
check "one host was killed mid-run" [ -f $T/killed ]
runs=$(json $T/a.out 'join ",", map { $_->{run_id} } @{$j->{cells}}')
count() { sqlite3 $T/state/pvlab.db "SELECT count(*) FROM trials WHERE run_id IN ($runs) $1"; }
check "exactly one result per planned trial (8)" [ "$(count '')" = 8 ]
check "every trial has a verdict from a boot (pass), none lost" [ "$(count "AND verdict = 'pass'")" = 8 ]
check "trials ran on the first host" [ "$(count "AND host LIKE '%:$P1 %'")" -ge 1 ]
check "... and on the second, before it was killed" [ "$(count "AND host LIKE '%:$P2 %'")" -ge 1 ]
check "the first host finished what the killed one could not" \
    [ "$(count "AND host LIKE '%:$P1 %'")" -gt "$(count "AND host LIKE '%:$P2 %'")" ]
