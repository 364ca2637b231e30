#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# apache2 -t -D DUMP_OCSP: one row per certificate with the cached response,
# printed even when configtest fails, in columns that long names do not
# break; which module staples each certificate (mod_md coexistence).
source "$(dirname "$0")/../lib/harness.sh"
h_init dump_ocsp
RP=$(h_free_port) FP=$(h_free_port) B=$(h_free_port) C=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
ct() { "$H_APACHE2" -t -f "$H_DIR/$1.conf" "${@:2}" >"$H_DIR/$1.ct" 2>&1; }
ct_says() { grep -q -- "$2" "$H_DIR/$1.ct" || { echo "   configtest said: $(cat "$H_DIR/$1.ct")" >&2; return 1; }; }
h_conf cold "$B" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
Listen 127.0.0.1:$C
$(h_vhost "$B" leaf)
$(h_vhost "$C" muststaple)" >/dev/null
h_check "apache2 starts" h_httpd_start cold
h_check "a good staple" h_eq "$(h_status "$B")" good
h_check "the must-staple certificate too" h_eq "$(h_status "$C" must.test.example)" good
h_httpd_stop cold
h_check "DUMP_OCSP runs" ct cold -D DUMP_OCSP
h_check "DUMP_OCSP shows the responder URL and the cached good status from the file" \
    ct_says cold "CN=localhost *1001 *http://127.0.0.1:$FP/ *no *good *20[0-9-]*T[0-9:]*Z *20[0-9-]*T[0-9:]*Z *file"
h_check "and the must-staple column" ct_says cold "CN=must.test.example *1002 .* yes *good"
h_check "the header names the version" ct_says cold "^OCSP stapling (mod_ocsp_guard/[0-9][0-9.]*), cache ocsp:$H_DIR/cache:"
h_check "the certificate file and the stapler are columns" ct_says cold "$H_DIR/pki/leaf.crt *mod_ocsp_guard *CN=localhost"

# a failing configuration (a must-staple certificate without OCSP URL) with a
# very long ServerName: the table is printed all the same, columns aligned
long=$(printf 'v%.0s' $(seq 1 90)).test.example
h_conf failing "$B" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
Listen 127.0.0.1:$C
$(h_vhost "$B" leaf | sed "s/ServerName localhost/ServerName $long/")
$(h_vhost "$C" muststaple_noocsp)" >/dev/null
h_check "configtest fails for the must-staple certificate" bash -c "! $H_APACHE2 -t -f $H_DIR/failing.conf -D DUMP_OCSP >$H_DIR/failing.ct 2>&1"
h_check "DUMP_OCSP still prints its table, a row per certificate" \
    bash -c "grep -q 'CN=localhost.*good' '$H_DIR/failing.ct' && grep -q 'must-noocsp.test.example *1004 .*none' '$H_DIR/failing.ct'"
aligned() { # every row's columns start where the header's do
    python3 - "$H_DIR/failing.ct" <<'PY'
import re, sys
lines = [l.rstrip("\n") for l in open(sys.argv[1])]
head = next(i for i, l in enumerate(lines) if l.startswith("VirtualHost "))
starts = [m.start() for m in re.finditer(r"(?<=  )\S", lines[head])]
rows = [l for l in lines[head + 1:head + 3]]
ok = len(starts) == 10 and all(all(r[p - 2:p] == "  " and r[p] != " " for p in starts) for r in rows)
sys.exit(0 if ok else 1)
PY
}
h_check "columns stay aligned with a 103-character virtual host name" aligned

# mod_md with MDStapling on: mod_ocsp_guard takes what it guards (its hooks
# run first), mod_md what has OCSPGuard Off; configtest says so
if [ -e "$H_MODDIR/mod_md.so" ]; then
    h_conf md "$B" event "LoadModule md_module $H_MODDIR/mod_md.so
MDStoreDir $H_DIR/md
MDStapling on
$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
Listen 127.0.0.1:$C
$(h_vhost "$B" leaf)
$(h_vhost "$C" muststaple 'OCSPGuard Off')" >/dev/null
    h_check "configtest with mod_md stapling too passes" ct md -D DUMP_OCSP
    h_check "with one warning about the overlap" ct_says md 'ocsp_guard:warn.*OG00510: configtest: mod_md has MDStapling on, and 1 certificate(s) are stapled by mod_ocsp_guard'
    h_check "DUMP_OCSP: mod_ocsp_guard staples the guarded certificate" ct_says md "leaf.crt *mod_ocsp_guard *CN=localhost"
    h_check "DUMP_OCSP: mod_md the one with OCSPGuard Off" ct_says md "muststaple.crt *mod_md *CN=must.test.example"
    h_check "apache2 starts with both" h_httpd_start md
    h_check "the guarded certificate's staple comes from mod_ocsp_guard" h_until 10 h_log_has md 'ocsp_guard:info.*OG0060[12]: .*serial 1001: good'
    h_check "mod_ocsp_guard never fetches for the OCSPGuard Off one" bash -c "! grep -q 'OG0060[1-4]: .*serial 1002: good' '$H_DIR/md.error.log'"
    h_httpd_stop md
else
    echo "FAIL - mod_md is not installed (apache2-bin ships it)"
    H_FAILED=1
fi
# a virtual host that sets no SSL directive inherits SSLEngine, the
# certificate and the chain from the main server, as mod_ssl merges them
h_conf inherit "$B" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
SSLEngine on
SSLCertificateFile $H_DIR/pki/leaf.crt
SSLCertificateKeyFile $H_DIR/pki/leaf.key
SSLCertificateChainFile $H_DIR/pki/ca.crt
Listen 127.0.0.1:$C
<VirtualHost 127.0.0.1:$C>
  ServerName inherit.test.example
</VirtualHost>" >/dev/null
h_check "inherited: apache2 starts" h_httpd_start inherit
h_check "inherited: mod_ssl serves the main server's certificate there, stapled" \
    h_until 10 eval '[ "$(h_status "$C")" = good ]'
h_httpd_stop inherit
h_check "inherited: configtest passes" ct inherit -D DUMP_OCSP
h_check "inherited: DUMP_OCSP has a row for the virtual host with the main server's certificate" \
    ct_says inherit "127.0.0.1:$C (inherit.test.example) *$H_DIR/pki/leaf.crt *mod_ocsp_guard *CN=localhost"

# a Redis that accepts and never answers: DUMP_OCSP asks it once, marks it
# down and reads the rest from files, instead of timeout= per certificate
SP=$(h_free_port)
h_silent_listener "$SP"
h_many_certs 20 "$H_DIR/many" "http://127.0.0.1:$FP/" 2>/dev/null
h_conf silent "$B" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache,redis=127.0.0.1:$SP,timeout=600
$(h_many_vhosts "$B" 20 "$H_DIR/many")" >/dev/null
t0=$(date +%s%N)
ct silent -D DUMP_OCSP
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "   DUMP_OCSP of 20 certificates with a silent Redis (timeout=600): $ms ms"
h_check "with a silent Redis: a row for each of the 20 certificates" \
    h_eq "$(grep -c 'CN=h[0-9]*.bench.example' "$H_DIR/silent.ct")" 20
h_check "the silent Redis is waited for a few times, not once per certificate (< 6 s)" test "$ms" -lt 6000
h_check "and it is said once that Redis does not answer" \
    h_eq "$(grep -c 'OG00801:' "$H_DIR/silent.ct")" 1
h_done
