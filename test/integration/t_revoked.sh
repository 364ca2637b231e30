#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# A revoked certificate: the revocation is stapled (it is the truth) and
# logged at error level once.
source "$(dirname "$0")/../lib/harness.sh"
h_init revoked
RP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$RP/"
h_revoke 1001 '1 day ago'
h_responder "$RP" -nmin 1
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
$(h_vhost "$HP" leaf)" >/dev/null
h_check "apache2 starts" h_httpd_start a
revoked_staple() { [ "$(h_status "$HP")" = revoked ]; }
h_check "the revocation is stapled" h_until 10 revoked_staple
h_check "the revocation is logged at error level" h_log_has a "ocsp_guard:error.*OG00605: vhost localhost:$HP ($H_DIR/pki/leaf.crt), subject CN=localhost, serial 1001"
sleep 35   # past the first refresh (half of one minute)
h_check "still stapled after a refresh" revoked_staple
h_check "and logged once only" h_eq "$(h_log_count a 'OG00605:')" 1
h_done
