#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# One breaker per responder (issue 12, point 3). 200 certificates of one CA
# on one responder, responses valid 3 minutes (openssl ocsp -nmin 3), so
# refreshes fall due after 72-90 s. Once all are stapled the front closes
# every connection: the responder sees a few failing refreshes, then one
# probe per backoff step (30 s, then 30 s before the first staple expires),
# not 200 certificates retrying; the error log has one line when it goes
# down and one when it is back; every certificate keeps its staple; when the
# responder answers again all 200 are fresh within a minute. About 3 minutes.
source "$(dirname "$0")/../lib/harness.sh"
h_init breaker
N=200
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_check "$N certificates of one CA" h_many_certs "$N" "$H_DIR/many" "http://127.0.0.1:$FP/"
cat "$H_DIR/many/index.txt" >> "$H_DIR/pki/index.txt"
h_responder "$RP" -nmin 3
h_front "$FP" "$RP"
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
$(h_many_vhosts "$HP" "$N" "$H_DIR/many")" >/dev/null
h_check "apache2 starts" h_httpd_start a
filled() { [ "$(h_log_count a 'OG00601: .*: good')" -ge "$N" ]; }
h_check "all $N stapled" h_until 30 filled
h_front_mode close
closed_at=$(h_front_count)
down() { h_log_has a 'OG01101:'; }
h_check "the responder goes down once refreshes fall due (72-90 s)" h_until 150 down
opened_at=$(h_front_count)
grep 'OG01101:' "$H_DIR/a.error.log" | sed 's/^.*OG01101/   OG01101/'
h_check "at most 3 failures in a row and those in flight reached it before that" \
    test $((opened_at - closed_at)) -le 7
probed() { [ "$(h_front_count)" -gt "$opened_at" ]; }
h_check "a probe about 30 s later" h_until 45 probed
# every certificate still has its staple, 30 s or more after the refreshes began
unstapled=0
for ((i = 0; i < N; i++)); do
    [ "$(h_status "$HP" "h$i.bench.example")" = good ] || unstapled=$((unstapled + 1))
done
h_check "every certificate keeps its staple while the responder is down" h_eq "$unstapled" 0
h_front_mode pass
returned_at=$(h_front_count) return_time=$(date +%s)
h_check "one probe in that backoff step, not $N certificates trying" test $((returned_at - opened_at)) -le 2
back() { h_log_has a 'OG01102:'; }
h_check "the next probe finds it back" h_until 60 back
fresh() { # certificates fetched since the responder was found back
    [ "$(sed -n '/OG01102:/,$p' "$H_DIR/a.error.log" | grep 'OG00601: ' | grep -o 'serial [0-9A-F]*' |
        sort -u | wc -l)" -ge "$N" ]
}
h_check "all $N fresh within a minute of its return" h_until $((return_time + 60 - $(date +%s))) fresh
echo "   back after $(( $(date +%s) - return_time )) s: $(grep 'OG01102:' "$H_DIR/a.error.log" | sed 's/^.*OG01102: //')"
h_check "one line when it went down" h_eq "$(h_log_count a 'OG01101:')" 1
h_check "one line when it came back" h_eq "$(h_log_count a 'OG01102:')" 1
h_check "not a failure line per certificate: at most the 3 before it was down" \
    test "$(h_log_count a 'OG0061[0-7]:')" -le 3
h_check "no staple expired" h_eq "$(h_log_count a 'OG00619:')" 0
h_done
