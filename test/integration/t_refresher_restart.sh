#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# The refresher process is killed: stapling goes on from shared memory and
# the parent starts a new refresher within seconds (monitor hook), and
# counts the restart where the metrics see it, across a graceful restart.
source "$(dirname "$0")/../lib/harness.sh"
h_init refresher
RP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$RP/"
h_responder "$RP"
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
$(h_vhost "$HP" leaf '<Location /metrics>
    SetHandler ocsp-guard-metrics
  </Location>')" >/dev/null
restarts() {
    curl -sS --max-time 5 --cacert "$H_DIR/pki/ca.crt" --resolve "localhost:$HP:127.0.0.1" "https://localhost:$HP/metrics" |
        sed -n 's/^ocsp_guard_refresher_restarts_total //p'
}
h_check "apache2 starts" h_httpd_start a
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "a good staple" h_until 10 good_staple
h_check "no restart counted yet" h_eq "$(restarts)" 0
old=$(sed -n 's/.*OG00402: refresher \([0-9]*\) started.*/\1/p' "$H_DIR/a.error.log" | tail -1)
h_check "the refresher's pid is logged" test -n "$old"
kill -9 "$old"
h_check "stapling goes on while no refresher runs" good_staple
respawned() { [ "$(sed -n 's/.*OG00402: refresher \([0-9]*\) started.*/\1/p' "$H_DIR/a.error.log" | tail -1)" != "$old" ]; }
h_check "a new refresher starts within 30 s" h_until 30 respawned
h_check "the death is logged as an error with what happens next" \
    h_log_has a "ocsp_guard:error.*OG00403: refresher process $old ended"
new=$(sed -n 's/.*OG00402: refresher \([0-9]*\) started.*/\1/p' "$H_DIR/a.error.log" | tail -1)
h_check "the new refresher runs" kill -0 "$new"
h_check "still a good staple" good_staple
h_check "the restart is counted (ocsp_guard_refresher_restarts_total)" h_eq "$(restarts)" 1
h_httpd_graceful a
h_check "a graceful restart after the respawn: the parent lives on (it crashed in APR before) and keeps the count" h_until 10 bash -c "[ \"\$(curl -sS --max-time 5 --cacert '$H_DIR/pki/ca.crt' --resolve 'localhost:$HP:127.0.0.1' https://localhost:$HP/metrics | sed -n 's/^ocsp_guard_refresher_restarts_total //p')\" = 1 ]"
sleep 2
new=$(sed -n 's/.*OG00402: refresher \([0-9]*\) started.*/\1/p' "$H_DIR/a.error.log" | tail -1)
h_check "and counts no restart for the refresher it replaced" h_eq "$(restarts)" 1
h_httpd_stop a
gone() { ! ps -p "$1" -o stat= 2>/dev/null | grep -qv Z; }   # exited (a zombie counts)
h_check "the refresher is gone after stop" h_until 5 gone "$new"
h_done
