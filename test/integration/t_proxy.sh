#!/bin/bash
# OCSPGuardProxy: the responder is reachable only through the proxy.
source "$(dirname "$0")/../lib/harness.sh"
h_init proxy
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port) DEAD=$(h_free_port)
h_pki "http://127.0.0.1:$DEAD/"   # nothing listens there
h_responder "$RP"
h_front "$FP" "$RP"              # the front doubles as the HTTP proxy
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardProxy http://127.0.0.1:$FP
$(h_vhost "$HP" leaf)" >/dev/null
h_check "apache2 starts" h_httpd_start a
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "a good staple through the proxy" h_until 10 good_staple
h_check "the request went through the proxy in absolute form" grep -q "^request pass [0-9]* proxied" "$H_DIR/front.log"
h_done
