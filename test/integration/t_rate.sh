#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Politeness (issue 12, point 4): with OCSPGuardResponderRate 20, the fill
# of 500 certificates never brings more than 20 requests into one second at
# the responder (the front's log, counted by second), and all 500 are
# stapled in the 25 s that rate means. About 40 s.
source "$(dirname "$0")/../lib/harness.sh"
h_init rate
N=500 RATE=20
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_check "$N certificates of one CA" h_many_certs "$N" "$H_DIR/many" "http://127.0.0.1:$FP/"
cat "$H_DIR/many/index.txt" >> "$H_DIR/pki/index.txt"
h_responder "$RP"
h_front "$FP" "$RP"
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardResponderRate $RATE
OCSPGuardFetchConcurrency 8
$(h_many_vhosts "$HP" "$N" "$H_DIR/many")" >/dev/null
h_check "apache2 starts" h_httpd_start a
filled() { [ "$(h_log_count a 'OG00601: .*: good')" -ge "$N" ]; }
h_check "all $N stapled within 40 s" h_until 40 filled
per_second() { grep '^request' "$H_DIR/front.log" | awk '{c[$3]++} END {for (s in c) print c[s]}' | sort -n; }
peak=$(per_second | tail -1) seconds=$(per_second | wc -l)
echo "   $(h_front_count) requests over $seconds seconds, at most $peak in one"
h_check "no second saw more than $RATE requests" test "$peak" -le "$RATE"
h_check "the limit paced the fill: $N requests took at least $((N / RATE - 1)) seconds" \
    test "$seconds" -ge $((N / RATE - 1))
h_check "the pacing is said once, at info level" h_eq "$(h_log_count a 'ocsp_guard:info.*OG01105:')" 1
h_check "no fetch failed" h_eq "$(h_log_count a 'OG0061[0-7]:')" 0
h_done
