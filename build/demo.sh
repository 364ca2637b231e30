#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# make demo: a throwaway CA whose leaf certificate points at a local
# `openssl ocsp` responder, and apache2 with mod_ocsp_guard and
# socache_ocsp on 127.0.0.1 (free ports). Prints the s_client line to check
# the staple and what it shows, then runs until Ctrl-C (or DEMO_SECONDS;
# 30 s when not on a terminal) and stops everything it started.
set -u
source "$(dirname "$0")/../test/lib/harness.sh"
h_init demo
H_KEEP=""
RP=$(h_free_port) HP=$(h_free_port)
echo "== test CA and certificates in $H_DIR/pki"
h_pki "http://127.0.0.1:$RP/"
echo "== OCSP responder (openssl ocsp) on port $RP, responses valid 5 minutes"
h_responder "$RP" -nmin 5 || { echo "responder did not start"; exit 1; }
h_conf demo "$HP" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
$(h_vhost "$HP" leaf)" >/dev/null
echo "== apache2 with mod_ocsp_guard on https://127.0.0.1:$HP/ (config $H_DIR/demo.conf)"
"$H_APACHE2" -t -f "$H_DIR/demo.conf" || exit 1
h_httpd_start demo || { cat "$H_DIR/demo.error.log"; exit 1; }
cmd="openssl s_client -connect 127.0.0.1:$HP -servername localhost -status -CAfile $H_DIR/pki/ca.crt </dev/null"
echo
echo "== check it yourself:"
echo "   $cmd"
echo
st=$(h_status "$HP")
sed -n '/^OCSP response:/,/^---/p' "$H_DIR/last_status" | grep -E "OCSP Response Status|Responder Id|Cert Status|This Update|Next Update|no response sent" | sed 's/^ */   /'
echo
echo "== staple: $st"
echo "== mod_ocsp_guard's log lines ($H_DIR/demo.error.log):"
grep -E 'ocsp_guard:(info|notice|warn|error)' "$H_DIR/demo.error.log" | sed 's/^\[[^]]*\] /   /' | cut -c1-200
echo
if [ -n "${DEMO_SECONDS:-}" ]; then
    limit=$DEMO_SECONDS
elif [ -t 0 ]; then
    limit=0
else
    limit=30
fi
trap 'echo; echo "== stopping"; exit 0' INT TERM
if [ "$limit" -gt 0 ]; then
    echo "== running for $limit s (DEMO_SECONDS), then stopping everything"
    sleep "$limit"
else
    echo "== running; press Ctrl-C to stop everything"
    while sleep 3600; do :; done
fi
echo "== stopping"
[ "$st" = good ]
