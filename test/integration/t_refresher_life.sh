#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# The refresher ignores SIGPIPE and dies with the parent at once, even
# while a worker waits for a slow responder; a responder that resets the
# connection costs a logged failure, not the refresher; a refresher that the
# server's user has stopped (SIGSTOP) does not hang the root parent at a
# graceful restart or a stop.
source "$(dirname "$0")/../lib/harness.sh"
h_init life
RP=$(h_free_port) FP=$(h_free_port) HP=$(h_free_port) HP2=$(h_free_port)
h_pki "http://127.0.0.1:$FP/"
h_responder "$RP"
h_front "$FP" "$RP"
refresher_of() { sed -n 's/.*OG00402: refresher \([0-9]*\) started.*/\1/p' "$H_DIR/$1.error.log" 2>/dev/null | tail -1; }
gone() { ! ps -p "$1" -o stat= 2>/dev/null | grep -qv Z; }   # exited (a zombie counts)
pipe_ignored() { # SIGPIPE (13) is bit 12 of SigIgn
    local m
    m=$(awk '/^SigIgn:/ {print $2}' "/proc/$1/status") && (( (0x$m >> 12) & 1 ))
}

# (a) the parent is killed while a worker waits in a 60 s fetch
h_front_mode delay:60
h_conf a "$HP" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardStartupWait 0
OCSPGuardResponderTimeout 60
$(h_vhost "$HP" leaf)" >/dev/null
h_check "apache2 starts" h_httpd_start a
logged() { [ -n "$(refresher_of a)" ]; }
h_check "the refresher's pid is logged" h_until 10 logged
rp=$(refresher_of a)
h_check "the refresher ignores SIGPIPE" pipe_ignored "$rp"
asked() { [ "$(h_front_count)" -ge 1 ]; }
h_check "a worker is in the slow fetch" h_until 10 asked
sleep 1
h_check "the refresher still runs before the parent dies" kill -0 "$rp"
kill -9 "$(h_httpd_pid a)"
t0=$(date +%s%N)
h_check "the refresher is gone within 2 s of the parent's death" h_until 2 gone "$rp"
echo "   refresher $rp gone after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
h_kill_strays a
rm -f "$H_DIR/a.pid"

# (b) the responder resets the connection
h_front_mode rst
h_conf b "$HP2" event "$(h_guard_load)
OCSPGuardCache none
OCSPGuardStartupWait 0
$(h_vhost "$HP2" leaf)" >/dev/null
h_check "apache2 starts again" h_httpd_start b
logged_b() { [ -n "$(refresher_of b)" ]; }
h_until 10 logged_b
rb=$(refresher_of b)
failed() { h_log_has b "OG0061[0-7]: .*serial 1001"; }
h_check "the reset is logged as a failed refresh" h_until 10 failed
h_check "the failure names the reset" h_log_has b "OG0061[0-7]: .*serial 1001: .*Connection reset by peer"
sleep 2
h_check "the same refresher runs on" kill -0 "$rb"
h_check "it is still the last one started" h_eq "$(refresher_of b)" "$rb"
h_check "no refresher death is logged" h_eq "$(h_log_count b 'OG00403: ')" 0
h_check "it ignores SIGPIPE too" pipe_ignored "$rb"

# (c) the server's user stops the refresher, then the parent restarts
h_front_mode pass
runuser -u www-data -- kill -STOP "$rb"
h_check "the server's user can stop the refresher" \
    bash -c "ps -o stat= -p $rb | grep -q T"
h_httpd_graceful b
restarted() { [ "$(refresher_of b)" != "$rb" ] && [ -n "$(refresher_of b)" ]; }
t0=$(date +%s)
h_check "a graceful restart goes on within 10 s: a new refresher starts" h_until 10 restarted
echo "   new refresher after $(( $(date +%s) - t0 )) s"
h_check "the stopped one is gone" h_until 5 gone "$rb"
good_staple() { [ "$(h_status "$HP2")" = good ]; }
h_check "the server staples after that restart" h_until 10 good_staple
rn=$(refresher_of b)
runuser -u www-data -- kill -STOP "$rn"
pid=$(h_httpd_pid b)
kill -TERM "$pid"
stopped() { ! kill -0 "$pid" 2>/dev/null; }
h_check "a stop ends the server within 10 s too" h_until 10 stopped
rm -f "$H_DIR/b.pid"
h_done
