#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# A responder (or anyone on the path) answering with a redirect: it is not
# followed, nothing reaches the address it names, the log line names its
# Location, and no staple comes from there although it would serve a valid
# response.
source "$(dirname "$0")/../lib/harness.sh"
h_init redirect
RP=$(h_free_port) FP=$(h_free_port) TP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
# the redirect target: a second front that records each request and answers
# with a genuine good response for the leaf
p="$H_DIR/pki"
openssl ocsp -issuer "$p/ca.crt" -cert "$p/leaf.crt" -no_nonce -reqout "$H_DIR/req.der" 2>/dev/null
openssl ocsp -index "$p/index.txt" -CA "$p/ca.crt" -rsigner "$p/responder.crt" -rkey "$p/responder.key" \
    -reqin "$H_DIR/req.der" -respout "$H_DIR/good.der" -ndays 1 >/dev/null 2>&1
h_check "a good response for the redirect target to serve" test -s "$H_DIR/good.der"
echo "file:$H_DIR/good.der" > "$H_DIR/target.mode"
python3 "$H_ROOT/test/lib/faultfront.py" "$TP" "$RP" "$H_DIR/target.mode" >>"$H_DIR/target.log" 2>&1 &
H_PIDS+=("$!")
h_wait_port "$TP" 10
loc="http://127.0.0.1:$TP/elsewhere/ocsp"
h_front_mode "redirect:$loc"
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardStartupWait 3
$(h_vhost "$HP" leaf)" >/dev/null
h_check "apache2 starts" h_httpd_start a
failed() { h_log_has a "OG0061[0-7]: .*serial 1001"; }
h_check "the fetch fails" h_until 10 failed
h_check "the responder was asked" test "$(h_front_count)" -ge 1
h_check "nothing reached the redirect target" h_eq "$(grep -c '^request' "$H_DIR/target.log")" 0
h_check "the log line names the redirect and its Location" \
    h_log_has a "ocsp_guard:error.*OG00611: .*serial 1001: .*(the responder answered HTTP 302 redirecting to $loc; redirects are not followed)"
h_check "no staple is served" h_eq "$(h_status "$HP")" none
h_done
