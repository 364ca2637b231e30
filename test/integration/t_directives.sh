#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Directives: good values pass configtest, bad ones fail it with a message
# that names the directive and what is allowed.
source "$(dirname "$0")/../lib/harness.sh"
h_init directives
HP=$(h_free_port)
h_pki "http://127.0.0.1:1/"
configtest() { # configtest "DIRECTIVES" -> output in $H_DIR/ct.out, returns apache2 -t status
    h_conf ct "$HP" event "$(h_guard_load)
$1
$(h_vhost "$HP" leaf)" >/dev/null
    "$H_APACHE2" -t -f "$H_DIR/ct.conf" >"$H_DIR/ct.out" 2>&1
}
h_check "all directives with good values: Syntax OK" configtest "OCSPGuard On
OCSPGuardResponder http://127.0.0.1:8080/ocsp
OCSPGuardRefreshAt 60
OCSPGuardResponderTimeout 5
OCSPGuardMaxSkew 120
OCSPGuardProxy http://127.0.0.1:3128
OCSPGuardStartupWait 3
OCSPGuardFetchConcurrency 8
OCSPGuardMustStapleWait 0
OCSPGuardResponderRate 0
OCSPGuardCache ocsp:$H_DIR/cache
OCSPGuardNotifyCmd /bin/true --some arg"
h_check "Syntax OK printed" grep -q "Syntax OK" "$H_DIR/ct.out"
bad() { # bad "DIRECTIVE LINE" "EXPECTED TEXT"
    if configtest "$1"; then
        echo "   accepted: $1" >&2
        return 1
    fi
    grep -q -- "$2" "$H_DIR/ct.out" || { echo "   message: $(cat "$H_DIR/ct.out")" >&2; return 1; }
}
h_check "RefreshAt 0 rejected with its range" bad "OCSPGuardRefreshAt 0" "OCSPGuardRefreshAt: '0' is not a whole number from 1 to 99"
h_check "RefreshAt 100 rejected" bad "OCSPGuardRefreshAt 100" "from 1 to 99"
h_check "RefreshAt 5x rejected" bad "OCSPGuardRefreshAt 5x" "OCSPGuardRefreshAt: '5x'"
h_check "ResponderTimeout 0 rejected" bad "OCSPGuardResponderTimeout 0" "OCSPGuardResponderTimeout: '0' is not a whole number from 1 to 300"
h_check "MaxSkew -1 rejected" bad "OCSPGuardMaxSkew -1" "OCSPGuardMaxSkew: '-1' is not a whole number from 0 to 86400"
h_check "StartupWait 601 rejected" bad "OCSPGuardStartupWait 601" "from 0 to 600"
h_check "FetchConcurrency 0 rejected" bad "OCSPGuardFetchConcurrency 0" "from 1 to 64"
h_check "MustStapleWait 61 rejected with its range" bad "OCSPGuardMustStapleWait 61" "OCSPGuardMustStapleWait: '61' is not a whole number from 0 to 60"
h_check "MustStapleWait inside a virtual host accepted" configtest "<VirtualHost 127.0.0.1:1>
OCSPGuardMustStapleWait 10
</VirtualHost>"
h_check "ResponderRate -1 rejected with its range" bad "OCSPGuardResponderRate -1" "OCSPGuardResponderRate: '-1' is not a whole number from 0 to 10000"
h_check "ResponderRate inside a virtual host rejected" bad "<VirtualHost 127.0.0.1:1>
OCSPGuardResponderRate 20
</VirtualHost>" "cannot occur within <VirtualHost> section"
h_check "Responder ftp:// rejected" bad "OCSPGuardResponder ftp://x/" "OCSPGuardResponder: 'ftp://x/' is not an http:// URL"
h_check "Responder without a host rejected" bad "OCSPGuardResponder http://" "OCSPGuardResponder: 'http://' is not an http:// URL with a host"
h_check "Proxy port out of range rejected" bad "OCSPGuardProxy http://p:99999" "the port must be a number from 1 to 65535"
h_check "Proxy with credentials rejected (never sent, never logged)" bad "OCSPGuardProxy http://u:secret@127.0.0.1:3128" "user names and passwords in the URL are not supported"
h_check "Proxy with a path rejected" bad "OCSPGuardProxy http://p:3128/x" "OCSPGuardProxy: 'http://p:3128/x' must be http://host:port"
h_check "OCSPGuard maybe rejected" bad "OCSPGuard maybe" "OCSPGuard must be On or Off"
h_check "an unknown cache provider rejected" bad "OCSPGuardCache nosuch:x" "unknown socache provider 'nosuch'"
h_check "a bad socache_ocsp argument in OCSPGuardCache fails, naming the part" \
    bad "OCSPGuardCache ocsp:$H_DIR/c,colour=blue" "unknown option 'colour'"
h_check "a relative cache directory fails" bad "OCSPGuardCache ocsp:relative/dir" "must be an absolute path"
h_check "a bad Redis address in SSLStaplingCache fails too (mod_ssl calls create)" \
    bad "SSLStaplingCache ocsp:$H_DIR/c,redis=nohostport" "redis='nohostport' is not HOST:PORT"
h_check "NotifyCmd with a relative path rejected" bad "OCSPGuardNotifyCmd bin/true" \
    "OCSPGuardNotifyCmd: 'bin/true' is not an absolute path"
h_check "NotifyCmd naming a missing file rejected" bad "OCSPGuardNotifyCmd $H_DIR/nosuch" \
    "OCSPGuardNotifyCmd: '$H_DIR/nosuch': No such file or directory"
h_check "NotifyCmd naming a file that is not executable rejected" bad "OCSPGuardNotifyCmd $H_DIR/pki/ca.crt" \
    "OCSPGuardNotifyCmd: '$H_DIR/pki/ca.crt' is not an executable file"
h_check "NotifyCmd naming a directory rejected" bad "OCSPGuardNotifyCmd /usr/bin" "is not an executable file"
h_check "NotifyCmd without a program rejected" bad "OCSPGuardNotifyCmd" "OCSPGuardNotifyCmd"
h_check "NotifyCmd inside a virtual host rejected" bad "<VirtualHost 127.0.0.1:1>
OCSPGuardNotifyCmd /bin/true
</VirtualHost>" "cannot occur within <VirtualHost> section"
h_check "StartupWait inside a virtual host rejected" bad "<VirtualHost 127.0.0.1:1>
OCSPGuardStartupWait 3
</VirtualHost>" "cannot occur within <VirtualHost> section"
h_done
