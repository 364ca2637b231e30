#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# A must-staple certificate without a staple (responder down, no cache): an
# error naming it (virtual host, file, subject, serial), not repeated within
# a minute.
source "$(dirname "$0")/../lib/harness.sh"
h_init muststaple
RP=$(h_free_port) FP=$(h_free_port) D=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
h_front_mode close
h_conf mustdown "$D" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardStartupWait 1
$(h_vhost "$D" muststaple)" >/dev/null
h_check "must-staple with the responder down starts" h_httpd_start mustdown
sleep 12   # past at least one monitor pass
h_check "the must-staple error is logged, once within the minute" \
    h_eq "$(h_log_count mustdown "ocsp_guard:error.*OG00405: vhost localhost:$D ($H_DIR/pki/muststaple.crt), subject CN=must.test.example, serial 1002 ")" 1
h_httpd_stop mustdown
h_done
