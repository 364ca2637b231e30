#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# The Prometheus view, against real components: the metrics handler's text
# passes `promtool check metrics`; a real Prometheus server scrapes it over
# HTTPS (test CA, server_name localhost) with the shipped alerting rules
# loaded, and its HTTP API shows up == 1, each certificate's status, the
# escaped subject intact, and the revocation alert firing; the shipped rules
# pass `promtool check rules` and their unit tests; socache_ocsp_redis_up
# follows a real redis-server going away.
source "$(dirname "$0")/../lib/harness.sh"
source "$(dirname "$0")/../lib/status_scenario.sh"
h_init metrics
RULES="$H_ROOT/docs/monitoring/ocsp_guard.rules.yml"
h_check "promtool check rules: the shipped rules" promtool check rules "$RULES"
h_check "promtool test rules: their unit tests" \
    bash -c "cd '$H_ROOT/docs/monitoring' && promtool test rules ocsp_guard.rules.test.yml"

RDP=$(h_free_port)
redis-server --port "$RDP" --bind 127.0.0.1 --save "" --appendonly no --dir "$H_DIR" >>"$H_DIR/redis.log" 2>&1 &
REDIS_PID=$!
H_PIDS+=("$REDIS_PID")
h_wait_port "$RDP" 10
h_check "apache2 starts (cache with a Redis tier)" s_start "OCSPGuardCache ocsp:$H_DIR/cache,redis=127.0.0.1:$RDP"
h_check "the good certificate is stapled" h_until 10 s_good
h_check "the revoked one staples its revocation" h_until 10 s_revoked

s_curl /metrics > "$H_DIR/metrics.txt"
h_check "promtool check metrics: the handler's output" bash -c "promtool check metrics < '$H_DIR/metrics.txt'"
h_check "Content-Type is the text format 0.0.4" \
    bash -c "curl -sS -o /dev/null -w '%{content_type}' --cacert '$H_DIR/pki/ca.crt' --resolve localhost:$HP:127.0.0.1 https://localhost:$HP/metrics | grep -qx 'text/plain; version=0.0.4; charset=utf-8'"
metric() { grep -qF -- "$1" "$H_DIR/metrics.txt"; }
h_check "one-hot status: good" metric "ocsp_guard_response_status{vhost=\"localhost:$HP\",subject=\"CN=localhost\",serial=\"1001\",status=\"good\"} 1"
h_check "one-hot status: the failing one has none" metric "ocsp_guard_response_status{vhost=\"localhost:$HP2\",subject=\"CN=must.test.example\",serial=\"1002\",status=\"none\"} 1"
h_check "must-staple flag" metric "ocsp_guard_certificate_must_staple{vhost=\"localhost:$HP2\",subject=\"CN=must.test.example\",serial=\"1002\"} 1"
h_check "failures and since when" bash -c "grep -qE '^ocsp_guard_consecutive_failures\\{vhost=\"localhost:$HP2\",.*\\} [1-9]' '$H_DIR/metrics.txt' && grep -q '^ocsp_guard_failing_since_timestamp_seconds{vhost=\"localhost:$HP2\"' '$H_DIR/metrics.txt'"
h_check "fetch results counted" bash -c "grep -qE '^ocsp_guard_fetches_total\\{result=\"ok\"\\} [2-9]' '$H_DIR/metrics.txt' && grep -qE '^ocsp_guard_fetches_total\\{result=\"error\"\\} [1-9]' '$H_DIR/metrics.txt'"
h_check "the histogram's +Inf bucket equals its count" bash -c "
    inf=\$(sed -n 's/^ocsp_guard_fetch_duration_seconds_bucket{le=\"+Inf\"} //p' '$H_DIR/metrics.txt')
    cnt=\$(sed -n 's/^ocsp_guard_fetch_duration_seconds_count //p' '$H_DIR/metrics.txt')
    [ -n \"\$inf\" ] && [ \"\$inf\" = \"\$cnt\" ] && [ \"\$cnt\" -ge 4 ]"
h_check "the file is in the info metric" metric "file=\"$H_DIR/pki/leaf.crt\""
redis_up() { s_curl /metrics | grep -qx "socache_ocsp_redis_up $1"; }
h_check "socache_ocsp_redis_up 1 with Redis answering" h_until 15 redis_up 1

# ---- a real Prometheus server scraping it over HTTPS
PP=$(h_free_port)
cat > "$H_DIR/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
scrape_configs:
  - job_name: ocsp_guard
    scheme: https
    metrics_path: /metrics
    tls_config:
      ca_file: $H_DIR/pki/ca.crt
      server_name: localhost
    static_configs:
      - targets: ['127.0.0.1:$HP']
YML
prometheus --config.file="$H_DIR/prometheus.yml" --storage.tsdb.path="$H_DIR/prometheus-data" \
    --web.listen-address="127.0.0.1:$PP" --log.level=warn >>"$H_DIR/prometheus.log" 2>&1 &
H_PIDS+=("$!")
h_check "prometheus listens" h_wait_port "$PP" 20
# q QUERY: the result as "labelname=value ... => value" lines, sorted
q() {
    curl -sS --max-time 5 "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json, sys
d = json.load(sys.stdin)
for r in d["data"]["result"]:
    m = r["metric"]
    print(" ".join("%s=%s" % (k, m[k]) for k in sys.argv[1:]) + " => " + r["value"][1])' "${@:2}" | sort
}
up_is_1() { [ "$(q 'up{job="ocsp_guard"}')" = " => 1" ]; }
h_check "Prometheus: up == 1 for the HTTPS scrape" h_until 30 up_is_1
statuses() { q 'ocsp_guard_response_status == 1' serial status; }
want="serial=1001 status=good => 1
serial=1002 status=none => 1
serial=2001 status=good => 1
serial=2A5B status=revoked => 1"
statuses_as_wanted() { [ "$(statuses)" = "$want" ]; }
h_check "Prometheus: ocsp_guard_response_status good, none, good, revoked as the scenario says" \
    h_until 10 statuses_as_wanted
h_check "Prometheus: the escaped subject arrives intact" \
    h_eq "$(q 'ocsp_guard_response_status{serial="2A5B",status="revoked"}' subject)" "subject=$S_ODD_SUBJECT => 1"
h_check "Prometheus: socache_ocsp_redis_up is 1" h_eq "$(q socache_ocsp_redis_up)" " => 1"
revoked_alert() {
    curl -sS --max-time 5 "http://127.0.0.1:$PP/api/v1/alerts" | python3 -c 'import json, sys
a = json.load(sys.stdin)["data"]["alerts"]
sys.exit(0 if any(x["labels"]["alertname"] == "OCSPCertificateRevoked" and x["labels"]["serial"] == "2A5B"
                  and x["state"] == "firing" for x in a) else 1)'
}
h_check "Prometheus: the shipped rules load and OCSPCertificateRevoked fires for 2A5B" h_until 20 revoked_alert
rules_ok() {
    curl -sS --max-time 5 "http://127.0.0.1:$PP/api/v1/rules" | python3 -c 'import json, sys
g = json.load(sys.stdin)["data"]["groups"]
rules = [r for x in g for r in x["rules"]]
sys.exit(0 if len(rules) == 7 and all(r["health"] == "ok" for r in rules) else 1)'
}
h_check "Prometheus: all 7 rules evaluate without error" h_until 10 rules_ok

# ---- Redis goes away: the refresher notices within its idle probe
h_stop_pid "$REDIS_PID"
h_check "socache_ocsp_redis_up 0 once Redis is gone" h_until 30 redis_up 0
h_check "the JSON says the shared tier is down" \
    bash -c "curl -sS --cacert '$H_DIR/pki/ca.crt' --resolve localhost:$HP:127.0.0.1 https://localhost:$HP/ocsp-guard-status | grep -q '\"shared_cache\": \"down\"'"
h_done
