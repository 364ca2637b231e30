#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# The Debian package, installed the way an operator would: `make deb`, `apt
# install ./...deb`, then a separate instance (an APACHE_CONFDIR tree, so the
# system's /etc/apache2 is untouched) with `a2enmod ocsp_guard`, a test
# virtual host, `apache2ctl configtest` and `start`, a good staple seen with
# `openssl s_client -status`, `apache2ctl stop`; finally `apt purge` leaves
# nothing of the package and the system's configuration as it was.
source "$(dirname "$0")/../lib/harness.sh"
h_init package
PKG=libapache2-mod-ocsp-guard
if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "install ok installed"; then
    echo "SKIP - $PKG is already installed on this machine; not touching it"
    h_done
fi
if [ -e /usr/lib/apache2/modules/mod_ocsp_guard.so ]; then
    echo "SKIP - /usr/lib/apache2/modules/mod_ocsp_guard.so exists outside the package (make install?); not overwriting it"
    h_done
fi
etc_sum() { find /etc/apache2 -type f -o -type l | sort | xargs -d '\n' md5sum 2>/dev/null | md5sum; }
etc_before=$(etc_sum)
services_before=$(h_system_services)

h_check "make deb builds the package" make -s -C "$H_ROOT" deb
deb=$(ls "$H_ROOT"/build/out/${PKG}_*_"$(dpkg --print-architecture)".deb 2>/dev/null | head -1)
h_check "the package file is build/out/${PKG}_VERSION_ARCH.deb" test -f "$deb"
h_check "it depends on the httpd module ABI and the OpenSSL it was built against" \
    bash -c "dpkg-deb -f '$deb' Depends | grep -q 'apache2-api-20120211' && dpkg-deb -f '$deb' Depends | grep -q 'libssl3'"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >"$H_DIR/apt-install.log" 2>&1
sed -n 's/^\(Unpacking\|Setting up\) /   apt: &/p' "$H_DIR/apt-install.log"
h_check "apt install ./...deb succeeds" bash -c "dpkg-query -W -f='\${Status}' $PKG | grep -q 'install ok installed'"
dpkg -L "$PKG" > "$H_DIR/files"
for f in /usr/lib/apache2/modules/mod_ocsp_guard.so /usr/lib/apache2/modules/mod_socache_ocsp.so \
         /etc/apache2/mods-available/ocsp_guard.load /etc/apache2/mods-available/ocsp_guard.conf \
         /etc/apache2/mods-available/socache_ocsp.load; do
    h_check "the package installs $f" test -f "$f"
done
h_check "installing enables nothing in /etc/apache2" test ! -e /etc/apache2/mods-enabled/ocsp_guard.load
h_check "installing started and stopped no service" \
    h_eq "$(h_system_services)" "$services_before"

# a separate instance: a copy of /etc/apache2 whose envvars put every runtime
# file under the test's directory
RP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$RP/"
h_responder "$RP"
export APACHE_CONFDIR="$H_DIR/apache2-pkgtest" APACHE_STARTED_BY_SYSTEMD=1
cp -a /etc/apache2 "$APACHE_CONFDIR"
mkdir -p "$H_DIR/inst/run" "$H_DIR/inst/lock" "$H_DIR/inst/log"
cat >> "$APACHE_CONFDIR/envvars" <<VARS
export APACHE_PID_FILE=$H_DIR/inst/run/apache2.pid
export APACHE_RUN_DIR=$H_DIR/inst/run
export APACHE_LOCK_DIR=$H_DIR/inst/lock
export APACHE_LOG_DIR=$H_DIR/inst/log
VARS
echo "Listen 127.0.0.1:$HP" > "$APACHE_CONFDIR/ports.conf"
rm -f "$APACHE_CONFDIR"/sites-enabled/*
cat > "$APACHE_CONFDIR/sites-available/ocsptest.conf" <<SITE
LogLevel warn ocsp_guard:info
<VirtualHost 127.0.0.1:$HP>
  ServerName localhost
  SSLEngine on
  SSLCertificateFile $H_DIR/pki/leaf.crt
  SSLCertificateKeyFile $H_DIR/pki/leaf.key
  SSLCertificateChainFile $H_DIR/pki/ca.crt
  LogLevel info ocsp_guard:info
</VirtualHost>
SITE
a2ensite -q ocsptest >"$H_DIR/a2ensite.log" 2>&1
a2enmod ocsp_guard >"$H_DIR/a2enmod.log" 2>&1
sed 's/^/   a2enmod: /' "$H_DIR/a2enmod.log"
h_check "a2enmod ocsp_guard enables it in the instance" test -L "$APACHE_CONFDIR/mods-enabled/ocsp_guard.load"
h_check "and what it depends on: socache_ocsp and ssl" \
    bash -c "test -L '$APACHE_CONFDIR/mods-enabled/socache_ocsp.load' && test -L '$APACHE_CONFDIR/mods-enabled/ssl.load'"
h_check "the system's /etc/apache2 was not touched by a2enmod" test ! -e /etc/apache2/mods-enabled/ocsp_guard.load
apache2ctl configtest >"$H_DIR/configtest.log" 2>&1
sed 's/^/   apache2ctl configtest: /' "$H_DIR/configtest.log"
h_check "apache2ctl configtest: Syntax OK" grep -q "Syntax OK" "$H_DIR/configtest.log"
h_check "apache2ctl start" apache2ctl start
for ((i = 0; i < 100; i++)); do [ -s "$H_DIR/inst/run/apache2.pid" ] && break; sleep 0.1; done
good_staple() { [ "$(h_status "$HP")" = good ]; }
h_check "openssl s_client -status shows a good staple" h_until 15 good_staple
openssl s_client -connect "127.0.0.1:$HP" -servername localhost -status </dev/null 2>/dev/null |
    sed -n 's/^ *\(OCSP Response Status\|Cert Status\|Serial Number\|Next Update\)/   s_client -status: &/p'
h_check "the startup line names the version" grep -q "ocsp_guard:info.*OG00001: mod_ocsp_guard/[0-9]" "$H_DIR/inst/log/error.log"
h_check "apache2ctl stop" apache2ctl stop
for ((i = 0; i < 100; i++)); do [ -e "$H_DIR/inst/run/apache2.pid" ] || break; sleep 0.1; done
h_check "the instance stopped" test ! -e "$H_DIR/inst/run/apache2.pid"
unset APACHE_CONFDIR APACHE_STARTED_BY_SYSTEMD

DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$PKG" >"$H_DIR/apt-purge.log" 2>&1
h_check "apt purge removes the package" bash -c "! dpkg-query -W -f='\${Status}' $PKG 2>/dev/null | grep -q 'install ok installed'"
left=$(while read -r f; do [ -f "$f" ] && echo "$f"; done < "$H_DIR/files")
h_check "nothing of it is left" h_eq "$left" ""
h_check "the system's /etc/apache2 is as it was" h_eq "$(etc_sum)" "$etc_before"
h_check "the system's apache2 configuration still passes configtest" bash -c "apache2ctl configtest 2>&1 | grep -q 'Syntax OK'"
h_check "no service was started or stopped" \
    h_eq "$(h_system_services)" "$services_before"
h_done
