#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Restart persistence with socache_ocsp: mod_ssl's own stapling
# (SSLStaplingCache ocsp:DIR) and mod_ocsp_guard each keep a good staple
# across stop/start while the responder is down; a corrupt cache file is a
# miss, logged and removed, never stapled.
source "$(dirname "$0")/../lib/harness.sh"
h_init persist
RP=$(h_free_port) HP=$(h_free_port) HP2=$(h_free_port)
h_pki "http://127.0.0.1:$RP/"
h_responder "$RP"
good_at() { [ "$(h_status "$1")" = good ]; }

# mod_ssl with the ocsp provider
h_conf ssl "$HP" event "LoadModule socache_ocsp_module $H_MODULES/mod_socache_ocsp.so
SSLStaplingCache ocsp:$H_DIR/sslcache
SSLUseStapling on
SSLStaplingResponderTimeout 3
$(h_vhost "$HP" leaf)" >/dev/null
h_check "mod_ssl: apache2 -t accepts SSLStaplingCache ocsp:DIR" "$H_APACHE2" -t -f "$H_DIR/ssl.conf"
h_check "mod_ssl: starts" h_httpd_start ssl
h_check "mod_ssl: good staple" h_until 10 good_at "$HP"
h_check "mod_ssl: one record file" h_eq "$(find "$H_DIR/sslcache" -type f | wc -l)" 1
h_httpd_stop ssl
h_stop_pid "$H_RESPONDER_PID"
h_check "mod_ssl: restarted with the responder down" h_httpd_start ssl
h_check "mod_ssl: still a good staple from the first handshake" good_at "$HP"
h_httpd_stop ssl

# mod_ocsp_guard with the ocsp provider
h_responder "$RP"
h_conf guard "$HP2" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/guardcache
$(h_vhost "$HP2" leaf)" >/dev/null
h_check "guard: starts" h_httpd_start guard
h_check "guard: good staple" good_at "$HP2"
h_check "guard: the record is stored" h_until 5 test -n "$(find "$H_DIR/guardcache" -type f)"
h_check "guard: the cache directory belongs to the server's user" \
    h_eq "$(stat -c %U "$H_DIR/guardcache/ocsp_guard")" www-data
h_httpd_stop guard
h_stop_pid "$H_RESPONDER_PID"
h_check "guard: restarted with the responder down" h_httpd_start guard
h_check "guard: good staple from the first handshake" good_at "$HP2"
h_check "guard: it came from the cache" h_log_has guard 'OG00602: .*: good'
h_httpd_stop guard

# a corrupt record: a miss, logged, removed; never stapled
rec=$(find "$H_DIR/guardcache" -type f | head -1)
size=$(stat -c %s "$rec")
head -c $((size - 7)) "$rec" > "$rec.cut" && mv "$rec.cut" "$rec"
chown www-data "$rec"
h_check "guard: restarted with a truncated record and no responder" h_httpd_start guard
h_check "guard: no staple from a truncated record" h_eq "$(h_status "$HP2")" none
# read (and removed) by the refresher's pass over the local tier at start,
# before socache_ocsp's sweep, which the refresher runs after it
h_check "guard: the bad record is logged, named, with the reason" \
    h_log_has guard "socache_ocsp:warn.*OG00814: .*record $rec was unusable (truncated record)"
h_check "guard: and removed" test ! -e "$rec"
h_httpd_stop guard

# a record holding a response for the wrong certificate (valid record, bad content)
h_responder "$RP"
h_check "guard: refills once the responder is back" h_httpd_start guard
h_check "guard: good staple again" good_at "$HP2"
h_httpd_stop guard
h_stop_pid "$H_RESPONDER_PID"
rec=$(find "$H_DIR/guardcache" -type f | head -1)
"$H_RECORD_TOOL" tamper "$rec" > "$H_DIR/tampered.rec"   # one bit of the signed response
cat "$H_DIR/tampered.rec" > "$rec"
h_check "guard: restarted with a tampered response in a well-formed record" h_httpd_start guard
h_check "guard: the tampered response is never stapled" h_eq "$(h_status "$HP2")" none
h_httpd_stop guard

# the sweep of expired records runs in the refresher, after the local pass
# (off the parent's start-up path): an expired record of a certificate no
# longer configured is removed
old="$H_DIR/guardcache/ocsp_guard/$(printf 'ab%.0s' $(seq 20))"
echo "an old response" > "$H_DIR/old.der"
"$H_RECORD_TOOL" encode "$(printf 'ab%.0s' $(seq 20))" 1000000000 "$H_DIR/old.der" > "$old"
chown www-data "$old"
h_check "guard: restarted with an expired record of another certificate" h_httpd_start guard
swept() { h_log_has guard "OG00804: .* swept 1 expired"; }
h_check "guard: the refresher's sweep removes it" h_until 5 swept
h_check "guard: and it is gone" h_until 2 test ! -e "$old"
refresher=$(grep 'OG00402:' "$H_DIR/guard.error.log" | tail -1 | sed 's/.*refresher \([0-9]*\) started.*/\1/')
h_check "guard: the sweep ran in the refresher (pid $refresher), not in the parent's start-up" \
    h_log_has guard "\[pid $refresher:tid [0-9]*\] OG00804: .* swept 1 expired"
h_httpd_stop guard

# a directory the server's user filled with junk: each file is removed, the
# first ten named in the log, all of them counted in one line
for i in $(seq 1 30); do
    echo junk > "$H_DIR/guardcache/ocsp_guard/$(printf '%040x' "$i")"
done
chown www-data "$H_DIR"/guardcache/ocsp_guard/*
n803=$(h_log_count guard 'OG00803:')
h_check "guard: restarted with 30 junk records" h_httpd_start guard
junk_swept() { h_log_has guard "OG00804: .* swept 0 expired, 30 corrupt"; }
h_check "guard: the sweep counts all 30" h_until 5 junk_swept
h_check "guard: and names only the first ten" h_eq "$(( $(h_log_count guard 'OG00803:') - n803 ))" 10
h_check "guard: the tenth says the rest are only counted" \
    h_log_has guard 'OG00803: .*; further ones are only counted'
h_httpd_stop guard

# the provider as mod_ssl's session cache, and its status() in mod_status
HP3=$(h_free_port)
h_conf sess "$HP3" event "LoadModule socache_ocsp_module $H_MODULES/mod_socache_ocsp.so
LoadModule status_module $H_MODDIR/mod_status.so
SSLSessionCache ocsp:$H_DIR/sesscache
<Location /server-status>
  SetHandler server-status
</Location>
$(h_vhost "$HP3" leaf 'SSLSessionTickets off')" >/dev/null
h_check "sessions: apache2 starts with SSLSessionCache ocsp:DIR" h_httpd_start sess
page=$(printf 'GET /server-status HTTP/1.0\r\nHost: localhost\r\n\r\n' |
    timeout 10 openssl s_client -quiet -connect "127.0.0.1:$HP3" -servername localhost -tls1_2 2>/dev/null)
h_check "sessions: a TLS 1.2 session was stored as a record" h_until 5 test -n "$(find "$H_DIR/sesscache" -type f)"
h_check "status() reports the provider, its directory and counters" \
    bash -c "grep -q 'cache type: <b>ocsp</b>, directory: <b>$H_DIR/sesscache' <<<\"\$1\" && grep -q 'records: <b>[0-9]*</b>, bytes: <b>[0-9]*</b>, hits: <b>[0-9]*</b>, misses: <b>[0-9]*</b>' <<<\"\$1\" && grep -q 'redis: not configured' <<<\"\$1\"" _ "$page"
h_httpd_stop sess
h_done
