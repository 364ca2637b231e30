#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Runs every integration test (test/integration/t_*.sh, or those named) with
# the real apache2, openssl ocsp and redis-server, and prints the totals.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=("$here"/t_*.sh)
passed=0 failed=0 skipped=0 failed_names=() skipped_names=()
if [ "${H_SANITIZE:-0}" = 1 ]; then
    # the modules built with ASan+UBSan, in apache2 with ASan's runtime preloaded
    export H_MODULES="$PWD/build/asan" APACHE2="$PWD/build/asan-apache2"
    export H_SAN_LOG="/tmp/ocsp_guard-san.$$"
    rm -f "$H_SAN_LOG".*
fi
export H_RUN_ID=$$             # names this run's work dirs, to find its leftovers
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    start=$(date +%s)
    out=$(timeout 600 bash "$t" 2>&1)
    rc=$?
    echo "$out" | sed "s/^/[$name] /"
    ok=$(echo "$out" | grep -c '^ok - ')
    bad=$(echo "$out" | grep -c '^FAIL - ')
    skip=$(echo "$out" | grep -c '^SKIP - ')
    if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1
        echo "[$name] FAIL - the test script itself failed (exit $rc)"
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))
    skipped=$((skipped + skip))
    [ "$bad" -eq 0 ] || failed_names+=("$name")
    [ "$skip" -eq 0 ] || skipped_names+=("$name")
    extra=""
    [ "$skip" -eq 0 ] || extra=", $skip skipped"
    echo "[$name] $ok passed, $bad failed$extra in $(( $(date +%s) - start )) s"
done
# nothing of ours may be left running
left=$(pgrep -f "/tmp/ocsp_guard\.$H_RUN_ID\." | tr '\n' ' ' || true)
if [ -n "$left" ]; then
    echo "FAIL - processes left behind:"
    ps -o pid=,args= -p $left | sed 's/^/   /' 
    pkill -9 -f "/tmp/ocsp_guard\.$H_RUN_ID\." || true
    failed=$((failed + 1))
fi
if [ "${H_SANITIZE:-0}" = 1 ]; then
    if ls "$H_SAN_LOG".* >/dev/null 2>&1; then
        echo "FAIL - sanitizer reports:"
        cat "$H_SAN_LOG".* | head -60
        failed=$((failed + 1))
        failed_names+=("sanitizer")
    else
        echo "ok - no AddressSanitizer or UndefinedBehaviorSanitizer report from apache2 with the modules"
        passed=$((passed + 1))
    fi
fi
[ ${#failed_names[@]} -eq 0 ] || echo "failed: ${failed_names[*]}"
# a skip is not a pass: said apart, with the test's reason above
[ ${#skipped_names[@]} -eq 0 ] || echo "skipped (see SKIP lines): ${skipped_names[*]}"
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
