#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# make install DESTDIR=... : runs with no network, puts the modules and the
# .load/.conf files under DESTDIR only, prints what to run next, starts or
# stops no service; make uninstall takes back what it put there.
source "$(dirname "$0")/../lib/harness.sh"
h_init install
D="$H_DIR/dest"
system_state() {
    find /etc/apache2 /usr/lib/apache2/modules -type f -o -type l | sort | xargs -d '\n' md5sum 2>/dev/null | md5sum
    h_system_services
}
before=$(system_state)
# no network: a fresh network namespace has only a loopback that is down
if unshare -n true 2>/dev/null; then NONET="unshare -n"; else NONET=""; echo "   (no network namespace here: running with the network)"; fi
$NONET make -s -C "$H_ROOT" install DESTDIR="$D" >"$H_DIR/install.log" 2>&1
h_check "make install DESTDIR=... succeeds${NONET:+ without network}" test $? -eq 0
mods=$(apxs -q LIBEXECDIR) conf=$(apxs -q SYSCONFDIR)
for f in "$mods/mod_ocsp_guard.so" "$mods/mod_socache_ocsp.so" "$conf/mods-available/ocsp_guard.load" \
         "$conf/mods-available/ocsp_guard.conf" "$conf/mods-available/socache_ocsp.load"; do
    h_check "it installs DESTDIR$f" test -f "$D$f"
done
h_check "the .load names the module directory" grep -q "^LoadModule ocsp_guard_module $mods/mod_ocsp_guard.so" "$D$conf/mods-available/ocsp_guard.load"
h_check "ocsp_guard.load depends on ssl and socache_ocsp" grep -q "^# Depends: ssl socache_ocsp" "$D$conf/mods-available/ocsp_guard.load"
h_check "every directive is in ocsp_guard.conf, commented out" \
    bash -c "n=\$(grep -c '^ *#OCSPGuard[A-Za-z]* ' '$D$conf/mods-available/ocsp_guard.conf'); [ \$n -ge 9 ] && ! grep -q '^ *OCSPGuard' '$D$conf/mods-available/ocsp_guard.conf'"
h_check "it prints what to run next" grep -q "a2enmod ocsp_guard" "$H_DIR/install.log"
h_check "nothing outside DESTDIR changed, no service started or stopped" h_eq "$(system_state)" "$before"
make -s -C "$H_ROOT" uninstall DESTDIR="$D" >"$H_DIR/uninstall.log" 2>&1
h_check "make uninstall DESTDIR=... leaves no file behind" h_eq "$(find "$D" -type f | wc -l)" 0

# a machine without the build dependencies (apxs and OpenSSL's headers
# hidden in a private mount namespace): make says what to install, quietly,
# and installs nothing
if unshare -m true 2>/dev/null; then
    git clone -q "$H_ROOT" "$H_DIR/clone" 2>/dev/null || cp -r "$H_ROOT/." "$H_DIR/clone"
    rm -rf "$H_DIR/clone/build/out" "$H_DIR/clone/build/obj" "$H_DIR/clone/build/lib"
    mkdir -p "$H_DIR/empty"
    before=$(system_state; dpkg -l | md5sum)
    unshare -m sh -c "mount --bind /dev/null /usr/bin/apxs && mount --bind '$H_DIR/empty' /usr/include/openssl &&
                      make -C '$H_DIR/clone'" >"$H_DIR/nodeps.log" 2>&1
    h_check "without build dependencies make fails" test $? -ne 0
    h_check "naming the packages and the apt-get line" \
        grep -q "build/deps: install them (as root) with: apt-get install apache2-dev libssl-dev" "$H_DIR/nodeps.log"
    h_check "and nothing else: no shell noise from asking apxs" h_eq "$(grep -vc '^build/deps:\|^make' "$H_DIR/nodeps.log")" 0
    h_check "it installed nothing and touched no service" h_eq "$(system_state; dpkg -l | md5sum)" "$before"
else
    echo "SKIP - cannot make a mount namespace to hide the build dependencies"
fi
h_done
