#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# A responder that answers garbage at start: no staple, one error line; then
# HTTP 500 on the first retry (30 s later): still no staple, and the same
# kind of failure (the responder cannot be used) logs no second error, only a
# debug line with the try count; when it recovers the staple appears on the next retry
# (60 s after that).
source "$(dirname "$0")/../lib/harness.sh"
h_init faults
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
h_front_mode garbage
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardStartupWait 1
$(h_vhost "$HP" leaf)" >/dev/null
h_check "apache2 starts although the responder answers garbage" h_httpd_start a
h_check "no staple is sent" h_eq "$(h_status "$HP")" none
h_check "one error line says no staple is sent and when it retries" \
    h_eq "$(h_log_count a 'ocsp_guard:error.*OG00611: .*serial 1001: .*retrying at')" 1
h_front_mode http500
asked_500() { grep -q '^request http500' "$H_DIR/front.log"; }
h_check "the first retry (30 s later) meets the HTTP 500" h_until 45 asked_500
sleep 1
h_check "an HTTP 500 gives no staple either" h_eq "$(h_status "$HP")" none
h_check "no second error line for the same kind of failure" \
    h_eq "$(h_log_count a 'ocsp_guard:error.*OG0061[0-7]: .*serial 1001')" 1
h_check "the retry is logged at debug level with its count" \
    h_log_has a 'ocsp_guard:debug.*OG00618: .*serial 1001: .*, try 2, next at'
h_front_mode pass
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "after the responder recovers the staple appears (second retry, 60 s later)" h_until 75 good_staple
h_check "the recovery is logged" h_log_has a 'OG00606: .*serial 1001: .* fetched'
h_done
