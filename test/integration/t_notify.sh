#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# OCSPGuardNotifyCmd (issue 11): a script that appends its arguments to a
# file gets, through an outage (front close), the expiry of one-minute
# responses, the recovery and a revocation, the right reasons in the right
# order for each certificate, and no more often than the limits say (one
# ocsp-renewed a day, one ocsp-errored an hour: a second outage within the
# hour is not told). It runs as the server's user, as a child of the
# refresher, with a minimal environment; a non-zero exit is logged, and a
# program that hangs is killed after 30 s with what it started. One program
# at a time per name, in the order of the changes: the hanging one holds its
# name's next ones (ocsp-expired, then must-staple-unstapled) until it is
# killed. That is what makes the order of the lines certain: ocsp-expired
# and must-staple-unstapled come from one look, a moment apart, and two
# programs run side by side would race to write theirs. After a graceful
# restart nothing is said again (the limits are carried over).
source "$(dirname "$0")/../lib/harness.sh"
h_init notify
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
P=$H_DIR/pki
h_responder "$RP" -nmin 1
h_front "$FP" "$RP"
OUT=$H_DIR/notify.out
: > "$OUT"
: > "$OUT.who"
chmod 666 "$OUT" "$OUT.who"
cat > "$H_DIR/notify.sh" <<SH
#!/bin/sh
# appends "ARGS... REASON NAME"; fails on purpose for ocsp-errored, hangs for ocsp-validity-low
echo "\$*" >> $OUT
echo "\$(id -un) \$PPID \$(env | grep -c .) \$(env | grep -c '^OCSP_GUARD_')" >> $OUT.who
case "\$2" in
    ocsp-errored) exit 3 ;;
    ocsp-validity-low) sleep 3137.$HP ;;
esac
exit 0
SH
chmod 755 "$H_DIR/notify.sh"

H_EXTRA_LOAD="LoadModule authz_host_module $H_MODDIR/mod_authz_host.so"
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardResponderTimeout 2
OCSPGuardNotifyCmd $H_DIR/notify.sh --from-test
$(h_vhost "$HP" leaf "<Location /ocsp-guard-status>
    SetHandler ocsp-guard-status
    Require ip 127.0.0.1
  </Location>")
<VirtualHost 127.0.0.1:$HP>
  ServerName must.test.example
  SSLEngine on
  SSLCertificateFile $P/muststaple.crt
  SSLCertificateKeyFile $P/muststaple.key
  SSLCertificateChainFile $P/ca.crt
</VirtualHost>" >/dev/null
h_check "apache2 starts" h_httpd_start a
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "a good staple" h_until 10 good_staple
said() { grep -c -- "$1" "$OUT"; }                       # said PATTERN: lines so far
said_n() { [ "$(said "$1")" -eq "$2" ]; }                 # said_n PATTERN N, for h_until
reasons() { sed -n "s/^--from-test \([^ ]*\) $1\$/\1/p" "$OUT" | tr '\n' ' '; }
refresh_all() {
    curl -sk -o /dev/null -w '%{http_code}' -X POST "https://127.0.0.1:$HP/ocsp-guard-status?action=refresh&id=all"
}
h_check "ocsp-renewed for both certificates" h_until 5 said_n ocsp-renewed 2
t0=$(date +%s)

# --- outage: the refresh at about 30 s fails, the responses expire at 60 s
h_front_mode close
h_check "ocsp-errored at the failed refresh" h_until 40 said_n ocsp-errored 2
h_check "ocsp-validity-low under a quarter of the validity left" h_until 35 said_n ocsp-validity-low 2

# --- the hanging programs (ocsp-validity-low) are killed 30 s after they
# started: after nextUpdate, as validity-low is told in the last quarter
killed() { [ "$(h_log_count a 'OG01004: notify: .* ocsp-validity-low .* still running after 30 s: killed')" -eq "$1" ]; }
h_check "the hanging programs are killed after 30 s" \
    h_until 45 killed 2
# ours only: another t_notify may be running (its own port in the sleep)
gone() { ! pgrep -f "^sleep 3137\.$HP\$" >/dev/null; }
h_check "with what they started" h_until 5 gone

# --- ocsp-expired at nextUpdate, run once its name's program is done
h_check "ocsp-expired" h_until 15 said_n ocsp-expired 2
h_check "must-staple-unstapled for the must-staple certificate only" \
    h_until 10 said_n 'must-staple-unstapled must.test.example' 1
# error log line numbers for NAME: its expiry (OG00619), the kill of its
# hanging program (OG01004), the start of its ocsp-expired program (OG01001)
at() { grep -n -- "$1" "$H_DIR/a.error.log" | head -1 | cut -d: -f1; }
waited() {
    local name=$1 exp kill run
    exp=$(at "OG00619: vhost $name:") kill=$(at "OG01004: .* ocsp-validity-low $name ")
    run=$(at "OG01001: .* ocsp-expired $name ")
    [ -n "$exp" ] && [ -n "$kill" ] && [ -n "$run" ] && [ "$exp" -lt "$kill" ] && [ "$kill" -lt "$run" ] ||
        { echo "   $name: expired at line ${exp:-?}, killed ${kill:-?}, ocsp-expired run ${run:-?}" >&2; return 1; }
}
h_check "localhost's ocsp-expired waited for its hanging program" waited localhost
h_check "must.test.example's too" waited must.test.example
h_check "no staple now" h_eq "$(h_status "$HP")" none
h_check "the failing program's exit status is logged" \
    h_log_has a "OG01002: notify: $H_DIR/notify.sh ocsp-errored localhost exited with status 3"

# --- recovery
h_front_mode pass
h_check "POST refresh (202)" h_eq "$(refresh_all)" 202
h_check "ocsp-recovered for both" h_until 10 said_n ocsp-recovered 2
h_check "a good staple again" h_until 5 good_staple

# --- a second outage within the hour: not told; its end neither
h_front_mode http500
sleep 5   # forced refreshes of one certificate: one per 5 s
refresh_all >/dev/null
failed_again() { [ "$(grep -c '^request http500' "$H_DIR/front.log")" -ge 2 ]; }
h_check "the second outage makes refreshes fail" h_until 10 failed_again
h_front_mode pass
sleep 5
n_before=$(h_front_count)
refresh_all >/dev/null
asked_again() { [ "$(h_front_count)" -gt "$n_before" ]; }
h_check "and they work again" h_until 10 asked_again
sleep 2

# --- revocation of localhost (serial 1001)
h_stop_pid "$H_RESPONDER_PID"
h_revoke 1001
h_responder "$RP" -nmin 1
sleep 4
refresh_all >/dev/null
h_check "ocsp-revoked" h_until 10 said_n ocsp-revoked 1
revoked_staple() { [ "$(h_status "$HP")" = revoked ]; }
h_check "the revocation is stapled" h_until 5 revoked_staple
sleep 6
refresh_all >/dev/null
sleep 3

# --- a graceful restart: the new generation remembers what was said
lines=$(wc -l < "$OUT")
refreshers() { sed -n 's/.*OG00402: refresher \([0-9]*\) started.*/\1/p' "$H_DIR/a.error.log" | sort -u | wc -l; }
before=$(refreshers)
h_httpd_graceful a
new_refresher() { [ "$(refreshers)" -gt "$before" ]; }
h_check "a graceful restart starts a new refresher" h_until 10 new_refresher
sleep 2
fetched_after() { [ "$(h_log_count a 'OG00601:')" -gt "$1" ]; }
n601=$(h_log_count a 'OG00601:')
h_check "POST refresh after the restart (202)" h_eq "$(refresh_all)" 202
h_check "both certificates are fetched again" h_until 10 fetched_after $((n601 + 1))
sleep 2
h_check "nothing new is said: renewed (daily) and revoked (once) were carried over" \
    h_eq "$(wc -l < "$OUT")" "$lines"

h_check "localhost: the reasons in order, each once" h_eq "$(reasons localhost)" \
    "ocsp-renewed ocsp-errored ocsp-validity-low ocsp-expired ocsp-recovered ocsp-revoked "
h_check "must.test.example: the reasons in order, each once" h_eq "$(reasons must.test.example)" \
    "ocsp-renewed ocsp-errored ocsp-validity-low ocsp-expired must-staple-unstapled ocsp-recovered "
h_check "every line is ours: configured args, reason, name" \
    h_eq "$(grep -vc '^--from-test [a-z-]* \(localhost\|must.test.example\)$' "$OUT")" 0
rpids=$(sed -n 's/.*OG00402: refresher \([0-9]*\) started.*/\1/p' "$H_DIR/a.error.log" | sort -u | tr '\n' ' ')
who_ok() {
    local user ppid nenv nog
    while read -r user ppid nenv nog; do
        [ "$user" = www-data ] || { echo "   ran as $user" >&2; return 1; }
        [[ " $rpids" == *" $ppid "* ]] || { echo "   parent $ppid is not a refresher ($rpids)" >&2; return 1; }
        [ "$nog" = 7 ] && [ "$nenv" -le 10 ] || { echo "   environment: $nenv variables, $nog OCSP_GUARD_*" >&2; return 1; }
    done < "$OUT.who"
}
h_check "run as the server's user, by the refresher, with a minimal environment" who_ok
h_check "each run is logged" h_eq "$(h_log_count a 'OG01001: notify: running')" "$(wc -l < "$OUT")"
h_done
