#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# What an operator reads, against the real apache2 with mod_status: the
# server-status section (HTML, escaped) and its ?auto keys, the JSON status
# handler against a known scenario (good, failing responder, revoked), one
# certificate by id or serial, the socache provider's ?auto lines, GET only,
# handlers only where configured, and log lines that name the place.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/status_scenario.sh"
h_init status
h_check "apache2 starts with mod_status and the status handlers" s_start
h_check "the good certificate is stapled" h_until 10 s_good
h_check "the revoked one staples its revocation" h_until 10 s_revoked
h_check "the one whose responder fails gets none" h_eq "$(h_status "$HP2")" none

# ---- handshake counters: exact deltas from handshakes that ask for a staple
auto_key() { s_curl "/server-status?auto" | sed -n "s/^$1: //p"; }
yes0=$(auto_key OCSPGuardHandshakesStapled) no0=$(auto_key OCSPGuardHandshakesUnstapled)
for i in 1 2 3; do h_status "$HP" >/dev/null; done
for i in 1 2; do h_status "$HP2" >/dev/null; done
h_check "?auto: OCSPGuardHandshakesStapled counts the 3 stapled handshakes" \
    h_eq "$(( $(auto_key OCSPGuardHandshakesStapled) - yes0 ))" 3
h_check "?auto: OCSPGuardHandshakesUnstapled counts the 2 without a staple" \
    h_eq "$(( $(auto_key OCSPGuardHandshakesUnstapled) - no0 ))" 2

# ---- server-status?auto
s_curl "/server-status?auto" > "$H_DIR/auto.txt"
auto_has() { grep -qx "$1" "$H_DIR/auto.txt"; }
for kv in "OCSPGuardCertificates: 4" "OCSPGuardStapled: 3" "OCSPGuardFailing: 1" "OCSPGuardRevoked: 1" \
          "OCSPGuardExpired: 0" "OCSPGuardMustStapleUnstapled: 1"; do
    h_check "?auto: $kv" auto_has "$kv"
done
h_check "?auto is plain Key: value lines, no HTML" bash -c "! grep -q '<' '$H_DIR/auto.txt'"
# the socache provider (SSLSessionCache ocsp:) as mod_ssl's status hook shows it
h_check "?auto: the ocsp socache answers in Key: value lines" \
    bash -c "grep -A4 -x 'TLSSessionCacheStatus' '$H_DIR/auto.txt' | sed 1d | grep -cE '^Cache[A-Za-z]+: [^<]+$' | grep -qx 4"
h_check "?auto: CacheType: OCSP with its directory" \
    bash -c "grep -qx 'CacheType: OCSP' '$H_DIR/auto.txt' && grep -qx 'CacheDirectory: $H_DIR/sessions/mod_ssl-sess' '$H_DIR/auto.txt'"

# ---- server-status HTML
s_curl "/server-status" > "$H_DIR/status.html"
html_has() { grep -qF -- "$1" "$H_DIR/status.html"; }
h_check "HTML: the mod_ocsp_guard section" html_has "<h2>mod_ocsp_guard: OCSP stapling</h2>"
h_check "HTML: the RSA certificate's row" \
    html_has "<tr><td>alias.test.example:$HP</td><td>CN=alias.test.example</td><td>2001</td><td>good</td>"
h_check "HTML: the good row (vhost, subject, serial, status)" \
    html_has "<tr><td>localhost:$HP</td><td>CN=localhost</td><td>1001</td><td>good</td>"
h_check "HTML: the failing row: none, must-staple, one failure or more, the HTTP 500" \
    grep -qE "<tr><td>localhost:$HP2</td><td>CN=must.test.example</td><td>1002</td><td>none \(must-staple\)</td><td>-</td><td>[0-9T:Z-]+</td><td>[1-9][0-9]*</td><td>[0-9T:Z-]+ cannot reach the OCSP responder \(the responder answered HTTP 500" "$H_DIR/status.html"
h_check "HTML: the revoked row, its subject escaped" \
    html_has "<tr><td>localhost:$HP3</td><td>OU=café,O=Quote \\&quot;q\\&quot; back\\\\slash \\&lt;b\\&gt;&amp;,CN=odd.test.example</td><td>2A5B</td><td>revoked</td>"
h_check "HTML: no raw markup from the subject" bash -c "! grep -q '<b\\\\>' '$H_DIR/status.html'"
h_check "HTML (?notable): the same rows without a table" \
    bash -c "curl -sS --cacert '$H_DIR/pki/ca.crt' --resolve localhost:$HP:127.0.0.1 'https://localhost:$HP/server-status?notable' | grep -q '<dt>localhost:$HP CN=localhost serial 1001: good'"

# ---- JSON
s_curl /ocsp-guard-status > "$H_DIR/status.json"
h_check "JSON: python3 -m json.tool accepts it" python3 -m json.tool "$H_DIR/status.json" /dev/null
h_check "JSON: Content-Type application/json" \
    bash -c "curl -sS -o /dev/null -w '%{content_type}' --cacert '$H_DIR/pki/ca.crt' --resolve localhost:$HP:127.0.0.1 https://localhost:$HP/ocsp-guard-status | grep -qx application/json"
cat > "$H_DIR/check.py" <<'PY'
import json, sys, time, calendar
doc = json.load(open(sys.argv[1]))
pki, hp, hp2, hp3, odd = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
now = time.time()
errors = []
def check(what, cond):
    if not cond:
        errors.append(what)
def rfc3339(c, key):
    # both forms of a time agree
    if c[key] is None:
        return c[key + "_unix"] is None
    return calendar.timegm(time.strptime(c[key], "%Y-%m-%dT%H:%M:%SZ")) == c[key + "_unix"]
by = {c["serial"]: c for c in doc["certificates"]}
check("four certificates", sorted(by) == ["1001", "1002", "2001", "2A5B"])
check("summary", doc["summary"] == {"certificates": 4, "stapled": 3, "failing": 1, "revoked": 1,
                                     "expired": 0, "must_staple_unstapled": 1})
check("fetches ok >= 3 and error >= 1", doc["fetches"]["ok"] >= 3 and doc["fetches"]["error"] >= 1)
check("no shared tier", doc["shared_cache"] is None and doc["refresher_restarts"] == 0)
for c in doc["certificates"]:
    for k in ("this_update", "next_update", "produced_at", "next_refresh", "last_fetch",
              "failing_since", "last_error_at"):
        check(c["serial"] + ": " + k + " agrees in both forms", rfc3339(c, k))
    check(c["serial"] + ": id is 40 hex digits", len(c["id"]) == 40 and int(c["id"], 16) >= 0)
g, f, r, rsa = by["1001"], by["1002"], by["2A5B"], by["2001"]
check("good: status", (g["status"], g["stapled"], g["source"]) == ("good", True, "responder"))
check("good: both virtual hosts, in configuration order, and the file",
      g["virtual_hosts"] == [{"name": "localhost:" + hp, "file": pki + "/leaf.crt"},
                             {"name": "alias.test.example:" + hp, "file": pki + "/leaf.crt"}])
check("good: subject, responder", g["subject"] == "CN=localhost" and g["responder"].startswith("http://127.0.0.1:"))
check("good: times", g["this_update_unix"] <= now + 5 and g["next_update_unix"] > now and
      now - 5 <= g["next_refresh_unix"] < g["next_update_unix"])
check("good: fetch ok, no failure", (g["last_fetch_result"], g["consecutive_failures"], g["last_error"],
                                     g["failing_since"]) == ("ok", 0, None, None))
check("good: skew", isinstance(g["clock_skew_seconds"], int) and abs(g["clock_skew_seconds"]) <= 5)
check("good: handshakes", g["handshakes"]["stapled"] >= 3 and g["handshakes"]["unstapled"] == 0)
# primed before the ECDSA one (key type order), configured after it: matched by content
check("rsa: its own file in the shared virtual host", rsa["status"] == "good" and
      rsa["virtual_hosts"] == [{"name": "alias.test.example:" + hp, "file": pki + "/rsa.crt"}])
check("failing: status", (f["status"], f["stapled"], f["source"], f["must_staple"]) == ("none", False, None, True))
check("failing: vhost and file", f["virtual_hosts"] == [{"name": "localhost:" + hp2, "file": pki + "/muststaple.crt"}])
check("failing: failures, error", f["consecutive_failures"] >= 1 and f["last_fetch_result"] == "error" and
      "HTTP 500" in f["last_error"] and f["failing_since_unix"] <= now and f["next_update"] is None)
check("failing: handshakes", f["handshakes"]["unstapled"] >= 2 and f["handshakes"]["stapled"] == 0)
check("revoked: status", (r["status"], r["stapled"], r["source"]) == ("revoked", True, "responder"))
check("revoked: the subject, byte for byte", r["subject"] == odd)
check("revoked: vhost and file", r["virtual_hosts"] == [{"name": "localhost:" + hp3, "file": pki + "/odd0.crt"}])
for e in errors:
    print("   JSON check failed: " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
h_check "JSON: every field as the scenario says" \
    python3 "$H_DIR/check.py" "$H_DIR/status.json" "$H_DIR/pki" "$HP" "$HP2" "$HP3" "$S_ODD_SUBJECT"
id=$(python3 -c 'import json,sys; print([c["id"] for c in json.load(open(sys.argv[1]))["certificates"] if c["serial"] == "1001"][0])' "$H_DIR/status.json")
one() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(c["serial"] for c in d["certificates"]))'; }
h_check "JSON ?id=HEX (upper case): that certificate alone" h_eq "$(s_curl "/ocsp-guard-status?id=${id^^}" | one)" 1001
h_check "JSON ?serial=HEX, case and leading zeros aside" h_eq "$(s_curl "/ocsp-guard-status?serial=002a5b" | one)" 2A5B
h_check "JSON: an unknown serial is 404" h_eq "$(s_code "/ocsp-guard-status?serial=DEAD")" 404
h_check "JSON: ... with a one-line reason" \
    h_eq "$(s_curl "/ocsp-guard-status?serial=DEAD")" "no certificate with serial DEAD is stapled by mod_ocsp_guard"
h_check "JSON: a malformed id is 400" h_eq "$(s_code "/ocsp-guard-status?id=xyz")" 400
asked=$(h_front_count)
h_check "JSON: GET with action= changes nothing and says so (400)" \
    h_eq "$(s_code "/ocsp-guard-status?action=refresh&id=$id")" 400
sleep 1
h_check "the responder was asked nothing by that GET" h_eq "$(h_front_count)" "$asked"
h_check "POST to the status handler is not answered by the GET handler" \
    bash -c "[ \"\$(curl -sS -o /dev/null -w '%{http_code}' -X POST --cacert '$H_DIR/pki/ca.crt' --resolve localhost:$HP:127.0.0.1 https://localhost:$HP/ocsp-guard-status)\" != 200 ]"
h_check "POST to the metrics handler is 405" h_eq "$(s_code /metrics -X POST)" 405
h_check "Require protects the handler (403 elsewhere)" h_eq "$(s_code /denied)" 403
h_check "no handler where none is configured" h_eq "$(s_code /ocsp-guard-status-not-here)" 404

# ---- log lines name the virtual host and the certificate file
h_check "log: the failure names vhost, file, subject and serial" \
    h_log_has a "ocsp_guard:error.*vhost localhost:$HP2 ($H_DIR/pki/muststaple.crt), subject CN=must.test.example, serial 1002: refresh from"
h_check "log: the success too, with the second virtual host counted" \
    h_log_has a "ocsp_guard:info.*vhost localhost:$HP and 1 more ($H_DIR/pki/leaf.crt), subject CN=localhost, serial 1001: good response fetched"
h_check "log: the parent's must-staple watch too" \
    h_log_has a "OG00405: vhost localhost:$HP2 ($H_DIR/pki/muststaple.crt), subject CN=must.test.example, serial 1002 is must-staple"
h_done
