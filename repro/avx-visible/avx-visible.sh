#!/bin/sh
# Passes (exit 0) when /proc/cpuinfo lists the flag (--flag=NAME, default avx) on every CPU;
# fails (exit 1) with the CPUs that lack it; untestable (125) without /proc/cpuinfo.
flag=avx
for a in "$@"; do
    case "$a" in --flag=*) flag=${a#--flag=} ;; esac
done
[ -r /proc/cpuinfo ] || { echo "no /proc/cpuinfo"; exit 125; }
cpus=0
missing=""
cpu=""
while read -r key rest; do
    case "$key" in
    processor) cpu=${rest#*: } ; cpus=$((cpus + 1)) ;;
    flags)
        case " ${rest#*: } " in
        *" $flag "*) ;;
        *) missing="$missing $cpu" ;;
        esac
        ;;
    esac
done </proc/cpuinfo
echo "kernel $(uname -r), $cpus CPUs, looking for '$flag'"
if [ -n "$missing" ]; then
    echo "CPU(s)$missing: no '$flag' in /proc/cpuinfo flags"
    exit 1
fi
echo "all $cpus CPUs list '$flag'"
exit 0
