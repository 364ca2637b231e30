#!/bin/bash
# Start-up warm-up: a cold start with an empty cache and a responder that
# takes 2 s still gives the very first handshake a staple.
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
h_done
