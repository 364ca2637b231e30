#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Cold start with a responder that takes 3 s: handshakes complete at once
# (without a staple) and the staple appears when the answer arrives.
source "$(dirname "$0")/../lib/harness.sh"
h_init cold
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
h_front_mode delay:3
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardStartupWait 0
$(h_vhost "$HP" leaf)" >/dev/null
h_check "apache2 starts" h_httpd_start a
slow=0
for i in 1 2 3; do
    t0=$(date +%s%N)
    st=$(h_status "$HP")
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "   handshake $i: ${ms} ms, staple: $st"
    [ "$ms" -lt 1000 ] || slow=1
done
h_check "handshakes during the slow fetch take under 1 s each" h_eq "$slow" 0
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "the staple appears once the responder answers" h_until 10 good_staple
h_done
