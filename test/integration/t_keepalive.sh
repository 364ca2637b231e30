#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Keep-alive: the initial fill of 50 certificates with OCSPGuardFetchConcurrency
# 4 reuses kept connections (at most one per worker), counted at the front;
# a front that closes after each answer still gets every certificate stapled.
source "$(dirname "$0")/../lib/harness.sh"
h_init keepalive
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
N=50
h_pki "http://127.0.0.1:$FP/"
P="$H_DIR/pki"
# N leaves sharing one key, each its own serial and SNI name
h_more_leaves ka ka.test.example 20000 "$N"
h_responder "$RP"
h_front "$FP" "$RP"
vhosts=$(for ((i = 0; i < N; i++)); do
    echo "<VirtualHost 127.0.0.1:$HP>
  ServerName h$i.test.example
  SSLEngine on
  SSLCertificateFile $P/ka$i.crt
  SSLCertificateKeyFile $P/leaf.key
  SSLCertificateChainFile $P/ca.crt
</VirtualHost>"
done)
conf() { # conf NAME
    h_conf "$1" "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardFetchConcurrency 4
$vhosts" >/dev/null
}
filled() { [ "$(h_log_count "$1" 'OG00601: .*: good')" -ge "$N" ]; }
stapled() { [ "$(h_status "$HP" "h$1.test.example")" = good ]; }
max_per_conn() { grep '^request' "$H_DIR/front.log" | grep -o 'conn=[0-9]*' | sort | uniq -c | sort -n | tail -1 | awk '{print $1}'; }

conf a
h_check "apache2 starts with $N certificates" h_httpd_start a
h_check "all $N are fetched" h_until 30 filled a
requests=$(h_front_count) conns=$(h_front_conns)
echo "   keep-alive front: $requests requests over $conns connections, at most $(max_per_conn) on one"
h_check "the responder saw one request per certificate" h_eq "$requests" "$N"
h_check "at most one connection per worker (4), not one per request" test "$conns" -le 4
h_check "a kept connection carried many requests" test "$(max_per_conn)" -ge 10
first_last() { stapled 0 && stapled $((N - 1)); }
h_check "the first and the last certificate are stapled" first_last
h_httpd_stop a

# a responder that closes after each answer: reconnected every time
h_front_mode noka
: > "$H_DIR/front.log"
conf b
h_check "apache2 starts again, the front closing after each answer" h_httpd_start b
h_check "all $N are fetched again" h_until 30 filled b
requests=$(h_front_count) conns=$(h_front_conns)
echo "   closing front: $requests requests over $conns connections"
h_check "one connection per request" h_eq "$conns" "$requests"
h_check "no fetch failed" h_eq "$(h_log_count b 'OG0061[0-7]:')" 0
h_done
