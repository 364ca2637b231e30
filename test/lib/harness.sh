# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Shared helpers for the demo and the integration tests: free ports, a test
# PKI, a real `openssl ocsp` responder, the fault-injecting front, and the
# real apache2 with the project's modules. Source it; call h_init first.
# Every process started here is recorded and stopped by pid in h_cleanup.

H_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
H_PIDS=()
H_APACHE2=${APACHE2:-/usr/sbin/apache2}
H_MODDIR=$(apxs -q LIBEXECDIR 2>/dev/null || echo /usr/lib/apache2/modules)

H_FAILED=0
h_init() { # h_init NAME: a work dir that the server's user can traverse
    H_DIR=$(mktemp -d "/tmp/ocsp_guard.${H_RUN_ID:-$$}.$1.XXXXXX")
    chmod 755 "$H_DIR"
    trap h_cleanup EXIT
}

# h_check DESCRIPTION CMD...: one assertion, one "ok"/"FAIL" line.
h_check() {
    local desc=$1
    shift
    if "$@"; then
        echo "ok - $desc"
    else
        echo "FAIL - $desc"
        H_FAILED=1
    fi
}
h_eq() { [ "$1" = "$2" ] || { echo "   expected '$2', got '$1'" >&2; return 1; }; }
h_log_has() { grep -q -- "$2" "$H_DIR/$1.error.log"; }
h_log_count() { grep -c -- "$2" "$H_DIR/$1.error.log" 2>/dev/null || true; }
h_done() { # the test's exit status; keeps the work dir of a failed test
    if [ "$H_FAILED" != 0 ]; then
        echo "   logs kept in $H_DIR" >&2
        H_KEEP=1
    fi
    exit "$H_FAILED"
}

# The system's own apache2 and redis-server (not the tests', which run from
# /tmp and on other ports; zombies do not count) and systemd's view of them:
# what a test that installs packages must leave as it found.
h_system_services() {
    ps -eo pid=,stat=,comm=,args= | awk '$2 !~ /^Z/ && $3 == "apache2" && $0 !~ / \/tmp\// {print $1}' | sort | tr '\n' ' '
    ps -eo pid=,stat=,comm=,args= | awk '$2 !~ /^Z/ && $3 == "redis-server" && $0 ~ /:6379( |$)/ {print $1}' | sort | tr '\n' ' '
    if [ -d /run/systemd/system ]; then systemctl is-active apache2 redis-server 2>/dev/null | tr '\n' ' '; fi
}

h_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

h_wait_port() { # h_wait_port PORT [SECONDS]
    local port=$1 limit=${2:-10} i
    for ((i = 0; i < limit * 10; i++)); do
        # look, don't connect: a probe connection would block the
        # single-threaded openssl responder until its timeout
        ss -ltnH "sport = :$port" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

h_pki() { # h_pki URL: generates the PKI into $H_DIR/pki
    bash "$H_ROOT/test/lib/pki.sh" "$H_DIR/pki" "$1"
    chmod -R a+rX "$H_DIR/pki"
}

# h_revoke SERIAL [WHEN]: the test PKI's index marks SERIAL (hex, as in
# index.txt) revoked since WHEN (a date(1) string, default an hour ago);
# restart the responder afterwards, it reads the index at start.
h_revoke() {
    local when
    when=$(date -u -d "${2:-1 hour ago}" +%y%m%d%H%M%SZ)
    awk -v s="$1" -v d="$when" 'BEGIN{FS=OFS="\t"} $4==s{$1="R"; $3=d",keyCompromise"} {print}' \
        "$H_DIR/pki/index.txt" > "$H_DIR/pki/index.new" && mv "$H_DIR/pki/index.new" "$H_DIR/pki/index.txt"
}

# h_more_leaves NAME CN FIRST_SERIAL COUNT: COUNT more leaves NAME0..NAME<COUNT-1>
# issued by the test CA, sharing leaf.key, each with its own serial (from
# FIRST_SERIAL, decimal) in the responder's index. CN may be a whole
# subject instead, "/CN=.../O=...", in UTF-8, with openssl's \ escapes.
h_more_leaves() {
    local name=$1 cn=$2 first=$3 count=$4 P="$H_DIR/pki" i subj
    subj=$cn
    [ "${cn#/}" != "$cn" ] || subj="/CN=$cn"
    openssl req -new -utf8 -key "$P/leaf.key" -subj "$subj" -out "$P/$name.csr" 2>/dev/null
    for ((i = 0; i < count; i++)); do
        openssl x509 -req -in "$P/$name.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -set_serial $((first + i)) \
            -days 30 -extfile "$P/ext.cnf" -extensions leaf -out "$P/$name$i.crt" 2>/dev/null
        printf 'V\t351231235959Z\t\t%X\tunknown\t%s\n' $((first + i)) "$subj" >> "$P/index.txt"
    done
    chmod -R a+rX "$P"
}

# h_responder PORT [extra openssl ocsp args...]: the real responder, signing
# with the delegated responder certificate; sets H_RESPONDER_PID.
h_responder() {
    local port=$1
    shift
    openssl ocsp -index "$H_DIR/pki/index.txt" -port "$port" -CA "$H_DIR/pki/ca.crt" \
        -rsigner "$H_DIR/pki/responder.crt" -rkey "$H_DIR/pki/responder.key" -ignore_err -timeout 5 \
        "$@" >>"$H_DIR/responder.log" 2>&1 &
    H_RESPONDER_PID=$!
    H_PIDS+=("$H_RESPONDER_PID")
    h_wait_port "$port" 10
}

h_stop_pid() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# h_front PORT UPSTREAM_PORT [LISTEN_HOST]: the fault-injecting front; its
# mode is the content of $H_DIR/front.mode (pass, delay:SECONDS, http500,
# garbage, close, noka, ...; see faultfront.py). It keeps connections alive
# when asked to, and logs a connection id with each request.
h_front() {
    echo pass > "$H_DIR/front.mode"
    python3 "$H_ROOT/test/lib/faultfront.py" "$1" "$2" "$H_DIR/front.mode" ${3:+"$3"} \
        >>"$H_DIR/front.log" 2>&1 &
    H_FRONT_PID=$!
    H_PIDS+=("$H_FRONT_PID")
    h_wait_port "$1" 10
}
h_front_mode() { echo "$1" > "$H_DIR/front.mode"; }
h_front_count() { grep -c '^request' "$H_DIR/front.log" 2>/dev/null || true; }
# h_front_conns [LOG]: client connections that carried at least one request
h_front_conns() {
    grep '^request' "${1:-$H_DIR/front.log}" 2>/dev/null | grep -o 'conn=[0-9]*' | sort -u | wc -l
}

# h_conf NAME PORT MPM BODY: writes $H_DIR/NAME.conf for the real apache2.
h_conf() {
    local name=$1 port=$2 mpm=$3 body=$4 conf="$H_DIR/$1.conf"
    mkdir -p "$H_DIR/$name.run"
    chown www-data "$H_DIR/$name.run" 2>/dev/null || true
    cat > "$conf" <<CONF
ServerRoot "$H_DIR"
ServerName localhost
PidFile "$H_DIR/$name.pid"
DefaultRuntimeDir "$H_DIR/$name.run"
ErrorLog "$H_DIR/$name.error.log"
LogLevel ${H_LOGLEVEL:-info}
Listen 127.0.0.1:$port
User www-data
Group www-data
LoadModule mpm_${mpm}_module $H_MODDIR/mod_mpm_${mpm}.so
LoadModule authz_core_module $H_MODDIR/mod_authz_core.so
LoadModule socache_shmcb_module $H_MODDIR/mod_socache_shmcb.so
LoadModule ssl_module $H_MODDIR/mod_ssl.so
${H_EXTRA_LOAD:-}
Mutex file:$H_DIR/$name.run
DocumentRoot "$H_DIR"
StartServers 1
$( [ "$mpm" = prefork ] && echo "MaxRequestWorkers 8" )
SSLSessionCache none
SSLProtocol -all +TLSv1.2 +TLSv1.3
$body
CONF
    echo "$conf"
}

H_MODULES=${H_MODULES:-$H_ROOT/build/out}   # build/asan for the sanitized run
H_RECORD_TOOL="$H_ROOT/build/out/socache-ocsp-record"
h_guard_load() {
    echo "LoadModule socache_ocsp_module $H_MODULES/mod_socache_ocsp.so
LoadModule ocsp_guard_module $H_MODULES/mod_ocsp_guard.so
LogLevel ${H_LOGLEVEL:-info} ocsp_guard:debug"
}

h_vhost() { # h_vhost PORT CERTNAME [extra lines]
    echo "<VirtualHost 127.0.0.1:$1>
  ServerName localhost
  SSLEngine on
  SSLCertificateFile $H_DIR/pki/$2.crt
  SSLCertificateKeyFile $H_DIR/pki/$2.key
  SSLCertificateChainFile $H_DIR/pki/ca.crt
  ${3:-}
</VirtualHost>"
}

# h_many_certs N DIR URL: N certificates of the test CA (or PKI=dir's), one
# key, names h0.bench.example ... (bench/mkcerts), and DIR/index.txt for
# `openssl ocsp`. Builds mkcerts when it is not built yet.
h_many_certs() {
    local pki=${PKI:-$H_DIR/pki}
    [ -x "$H_ROOT/build/bench/mkcerts" ] || make -s -C "$H_ROOT" build/bench/mkcerts >/dev/null || return 1
    mkdir -p "$2"
    "$H_ROOT/build/bench/mkcerts" "$pki/ca.crt" "$pki/ca.key" "$1" "$2" "$3" >&2 || return 1
    chmod -R a+rX "$2"
}
# h_many_vhosts PORT N DIR: a name-based virtual host per certificate of h_many_certs
h_many_vhosts() {
    local i pki=${PKI:-$H_DIR/pki}
    for ((i = 0; i < $2; i++)); do
        printf '<VirtualHost 127.0.0.1:%s>\n ServerName h%d.bench.example\n SSLEngine on\n SSLCertificateFile %s/c%d.crt\n SSLCertificateKeyFile %s/leaf.key\n SSLCertificateChainFile %s/ca.crt\n</VirtualHost>\n' \
            "$1" "$i" "$3" "$i" "$3" "$pki"
    done
}

# h_silent_listener PORT: accepts connections and never answers (a hung
# Redis or responder); stopped with the test.
h_silent_listener() {
    python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); held = []
while True: held.append(s.accept()[0])' "$1" &
    H_PIDS+=("$!")
    h_wait_port "$1" 10
}

h_httpd_start() { # h_httpd_start NAME
    "$H_APACHE2" -f "$H_DIR/$1.conf" -k start
    local rc=$? i
    for ((i = 0; i < 100; i++)); do
        [ -s "$H_DIR/$1.pid" ] && break
        sleep 0.1
    done
    return $rc
}
h_httpd_pid() { cat "$H_DIR/$1.pid" 2>/dev/null; }
h_httpd_stop() { # h_httpd_stop NAME: stop and wait until every process is gone
    local pid i
    pid=$(h_httpd_pid "$1") || return 0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    h_kill_strays "$1"
    rm -f "$H_DIR/$1.pid"
}
h_httpd_graceful() { kill -USR1 "$(h_httpd_pid "$1")"; }
# Any apache2 process still running with this test's config file.
h_kill_strays() {
    local p
    for p in $(pgrep -f "$H_DIR/$1.conf" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
}

# h_status PORT [SNI]: prints "good", "revoked", "none" or "error" for the
# staple the server sends; the full s_client text is in $H_DIR/last_status.
h_status() {
    local port=$1 sni=${2:-localhost}
    timeout 15 openssl s_client -connect "127.0.0.1:$port" -servername "$sni" -status \
        -CAfile "$H_DIR/pki/ca.crt" </dev/null >"$H_DIR/last_status" 2>&1
    if grep -q "OCSP response: no response sent" "$H_DIR/last_status"; then
        echo none
    elif grep -q "Cert Status: good" "$H_DIR/last_status"; then
        echo good
    elif grep -q "Cert Status: revoked" "$H_DIR/last_status"; then
        echo revoked
    else
        echo error
    fi
}

# h_until SECONDS CMD...: polls CMD until it succeeds.
h_until() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 4; i++)); do
        "$@" && return 0
        sleep 0.25
    done
    return 1
}

h_cleanup() {
    local f pid
    for f in "$H_DIR"/*.pid; do
        [ -e "$f" ] || continue
        h_httpd_stop "$(basename "$f" .pid)"
    done
    for pid in "${H_PIDS[@]}"; do h_stop_pid "$pid"; done
    for f in "$H_DIR"/*.conf; do
        [ -e "$f" ] && h_kill_strays "$(basename "$f" .conf)"
    done
    [ -n "${H_KEEP:-}" ] || rm -rf "$H_DIR"
    return 0
}
