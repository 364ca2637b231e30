# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# The known scenario of the status tests (t_status.sh, t_metrics.sh): three
# certificates on three ports of one apache2 with mod_status and the status
# handlers, each a different state. Source after harness.sh and h_init.
#   good     leaf.crt (serial 1001) on HP: the responder behind the front on FP;
#            also the ECDSA certificate of alias.test.example on HP, whose
#            RSA one, rsa.crt (serial 2001, good), comes second in its
#            configuration but first in mod_ssl's priming (by key type)
#   failing  muststaple.crt (1002, must-staple) on HP2: OCSPGuardResponder is
#            a second front (FP2) that answers HTTP 500
#   revoked  odd0.crt (2A5B) on HP3, revoked in index.txt, with a subject that
#            needs escaping everywhere: quotes, a backslash, <b>&, UTF-8
# s_start [EXTRA_CONF]: sets up and starts it; the handlers are on HP at
# /server-status, /ocsp-guard-status and /metrics (Require local), and at
# /denied behind Require ip 192.0.2.1.

S_ODD_SUBJECT='OU=café,O=Quote \"q\" back\\slash \<b\>&,CN=odd.test.example'

# s_curl PATH [curl args]: the body from the good vhost (CA-verified).
s_curl() {
    local path=$1
    shift
    curl -sS --max-time 10 --cacert "$H_DIR/pki/ca.crt" "$@" "https://localhost:$HP$path" \
        --resolve "localhost:$HP:127.0.0.1"
}
# s_code PATH [curl args]: the HTTP status code only.
s_code() { s_curl "$1" -o /dev/null -w '%{http_code}' "${@:2}"; }

s_issue_rsa() {
    local P=$H_DIR/pki
    openssl genrsa -out "$P/rsa.key" 2048 2>/dev/null
    openssl req -new -key "$P/rsa.key" -subj "/CN=alias.test.example" -out "$P/rsa.csr" 2>/dev/null
    openssl x509 -req -in "$P/rsa.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -set_serial $((0x2001)) -days 30 \
        -extfile "$P/ext.cnf" -extensions leaf -out "$P/rsa.crt" 2>/dev/null
    printf 'V\t351231235959Z\t\t2001\tunknown\t/CN=alias.test.example\n' >> "$P/index.txt"
    chmod -R a+rX "$P"
}

s_issue_odd() {
    h_more_leaves odd '/CN=odd.test.example/O=Quote "q" back\\slash <b>&/OU=café' $((0x2A5B)) 1
    cp "$H_DIR/pki/leaf.key" "$H_DIR/pki/odd0.key"
    h_revoke 2A5B "1 day ago"
}

s_start() {
    RP=$(h_free_port) FP=$(h_free_port) FP2=$(h_free_port) HP=$(h_free_port) HP2=$(h_free_port) HP3=$(h_free_port)
    h_pki "http://127.0.0.1:$FP/"
    s_issue_odd
    s_issue_rsa
    h_responder "$RP" -nmin 60
    h_front "$FP" "$RP"
    # the failing responder: a front of its own, in http500 mode
    echo http500 > "$H_DIR/front2.mode"
    python3 "$H_ROOT/test/lib/faultfront.py" "$FP2" "$RP" "$H_DIR/front2.mode" >>"$H_DIR/front2.log" 2>&1 &
    H_PIDS+=("$!")
    h_wait_port "$FP2" 10
    H_EXTRA_LOAD="LoadModule status_module $H_MODDIR/mod_status.so
LoadModule authz_host_module $H_MODDIR/mod_authz_host.so" h_conf a "$HP" event "$(h_guard_load)
OCSPGuardStartupWait 3
SSLSessionCache ocsp:$H_DIR/sessions
Listen 127.0.0.1:$HP2
Listen 127.0.0.1:$HP3
${1:-}
$(h_vhost "$HP" leaf '<Location /server-status>
    SetHandler server-status
    Require local
  </Location>
  <Location /ocsp-guard-status>
    SetHandler ocsp-guard-status
    Require local
  </Location>
  <Location /metrics>
    SetHandler ocsp-guard-metrics
    Require local
  </Location>
  <Location /denied>
    SetHandler ocsp-guard-status
    Require ip 192.0.2.1
  </Location>')
<VirtualHost 127.0.0.1:$HP>
  ServerName alias.test.example
  SSLEngine on
  SSLCertificateFile $H_DIR/pki/leaf.crt
  SSLCertificateKeyFile $H_DIR/pki/leaf.key
  SSLCertificateFile $H_DIR/pki/rsa.crt
  SSLCertificateKeyFile $H_DIR/pki/rsa.key
  SSLCertificateChainFile $H_DIR/pki/ca.crt
</VirtualHost>
$(h_vhost "$HP2" muststaple "OCSPGuardResponder http://127.0.0.1:$FP2/")
$(h_vhost "$HP3" odd0)" >/dev/null
    h_httpd_start a
}

s_good() { [ "$(h_status "$HP")" = good ]; }
s_revoked() { [ "$(h_status "$HP3")" = revoked ]; }
