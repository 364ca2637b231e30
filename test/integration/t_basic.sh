#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# A good staple appears on its own after start; certificates without an
# OCSP URL are declined with one info line; the module's log tag works.
source "$(dirname "$0")/../lib/harness.sh"
h_init basic
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port) HP2=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
Listen 127.0.0.1:$HP2
$(h_vhost "$HP" leaf)
$(h_vhost "$HP2" noocsp)" >/dev/null
h_check "apache2 starts with mod_ocsp_guard" h_httpd_start a
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "a good staple appears on its own" h_until 10 good_staple
h_check "the staple is the test responder's answer for serial 1001" grep -q "Responder Id: CN = Test OCSP Responder" "$H_DIR/last_status"
h_check "it names the certificate's serial" grep -q "Serial Number: 1001" "$H_DIR/last_status"
h_check "the responder was asked once" h_eq "$(h_front_count)" 1
h_check "the certificate without OCSP URL gets no staple" h_eq "$(h_status "$HP2")" none
h_check "it is declined with one info line naming it" \
    h_eq "$(h_log_count a 'OG00201: .*CN=noocsp.test.example.*no OCSP responder URL')" 1
h_check "log lines are tagged ocsp_guard and name virtual host, file, subject and serial" \
    h_log_has a "\[ocsp_guard:info\].*OG00601: vhost localhost:$HP ($H_DIR/pki/leaf.crt), subject CN=localhost, serial 1001: good"
h_check "the startup line counts the staple" h_log_has a 'OG00407: startup: 1 of 1 '
for i in 1 2 3 4 5; do h_status "$HP" >/dev/null; done
h_check "handshakes do not ask the responder" h_eq "$(h_front_count)" 1
h_done
