#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# make bench / make bench-quick: runs each benchmark script, gathers their
# key=value lines, writes docs/BENCHMARKS.md (or BENCH_OUT) with
# bench/report.sh; --quick runs smaller sizes, writes the report to a
# temporary file and checks the results with bench/sanity.sh.
#   bench/run.sh [--quick]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
export BENCH_QUICK=$QUICK
RES=$(mktemp /tmp/ocsp_guard-bench.XXXXXX)
STARTED=$(date +%s)
{
    echo "run.quick=$QUICK"
    echo "run.command=$([ $QUICK = 1 ] && echo 'make bench-quick' || echo 'make bench')"
    echo "run.date=$(date -u +%Y-%m-%d)"
    echo "run.machine=$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
    echo "run.software=$(/usr/sbin/apache2 -v | head -1 | sed 's/Server version: //'), $(openssl version), $(redis-server --version | awk '{print $1, $2, $3}')"
} > "$RES"
scripts="handshake lookup coldstart scale cluster"
[ $QUICK = 1 ] || scripts="handshake lookup callgrind coldstart scale cluster"
rc=0
for b in $scripts; do
    echo "== bench/$b.sh"
    bash "$HERE/$b.sh" >> "$RES" || { echo "FAIL - bench/$b.sh exited non-zero"; rc=1; }
done
echo "run.seconds=$(( $(date +%s) - STARTED ))" >> "$RES"
if [ $QUICK = 1 ]; then
    OUT=${BENCH_OUT:-${RES}.md}
else
    OUT=${BENCH_OUT:-$HERE/../docs/BENCHMARKS.md}
fi
bash "$HERE/report.sh" "$RES" > "$OUT"
echo "== wrote $OUT; results in $RES"
if [ $QUICK = 1 ]; then
    bash "$HERE/sanity.sh" "$RES" || rc=1
fi
exit $rc
