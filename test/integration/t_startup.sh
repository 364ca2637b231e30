#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Start-up warm-up: a cold start with an empty cache and a responder that
# takes 2 s still gives the very first handshake a staple; and (issue 12
# point 6) with OCSPGuardStartupWait 0 and a warm local cache, the very first
# handshake carries the cached staple, with the responder unreachable.
source "$(dirname "$0")/../lib/harness.sh"
h_init startup
RP=$(h_free_port) FP=$(h_free_port) B=$(h_free_port) C=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
h_front_mode delay:2
h_conf cold "$B" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
Listen 127.0.0.1:$C
$(h_vhost "$B" leaf)
$(h_vhost "$C" muststaple)" >/dev/null
"$H_APACHE2" -f "$H_DIR/cold.conf" -k start
h_check "cold start with a 2 s responder: the first handshake carries a good staple" \
    h_eq "$(h_status "$B")" good
h_check "the must-staple certificate too" h_eq "$(h_status "$C" must.test.example)" good
h_front_mode pass
h_check "each certificate's outcome is logged" h_eq "$(h_log_count cold 'OG00601: .*: good')" 2
h_check "the startup wait is summarised" h_log_has cold 'OG00407: startup: 2 of 2 '
h_httpd_stop cold

# the same cache, OCSPGuardStartupWait 0, the responder's front refusing every request
h_front_mode close
before=$(h_front_count)
h_conf nowait "$B" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
OCSPGuardStartupWait 0
Listen 127.0.0.1:$C
$(h_vhost "$B" leaf)
$(h_vhost "$C" muststaple)" >/dev/null
"$H_APACHE2" -f "$H_DIR/nowait.conf" -k start
h_check "StartupWait 0, warm cache: the first handshake carries a good staple" h_eq "$(h_status "$B")" good
h_check "the must-staple certificate too" h_eq "$(h_status "$C" must.test.example)" good
h_check "both came from the local cache before children accepted" \
    h_log_has nowait 'OG00701: startup: 2 of 2 certificate(s) have a verified staple after the local cache was read'
h_check "without asking the responder" h_eq "$(h_front_count)" "$before"
h_httpd_stop nowait
h_done
