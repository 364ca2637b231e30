#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# The server's user (any CGI or PHP script) owns the cache's consumer
# directory and may own the directory above it. Swapping either for a symlink
# to a root-owned directory must not make root (the parent, at a graceful or
# plain restart; configtest; DUMP_OCSP) chown, empty, truncate or delete
# anything there. configtest and DUMP_OCSP change nothing on disk.
source "$(dirname "$0")/../lib/harness.sh"
h_init symlink
RP=$(h_free_port) HP=$(h_free_port)
h_pki "http://127.0.0.1:$RP/"
h_responder "$RP"
as_www() { setpriv --reuid=www-data --regid=www-data --clear-groups -- bash -c "$1"; }
good_at() { [ "$(h_status "$1")" = good ]; }
generations() { h_log_count guard 'resuming normal operations'; }
restarted_since() { [ "$(generations)" -gt "$1" ]; }
has_record() { [ -n "$(find "$1" -type f 2>/dev/null)" ]; }

# root's directories that the server's user must never get to touch
victim_fill() { # victim_fill DIR
    mkdir -p "$1"
    printf '#!/bin/sh\necho root tool\n' > "$1/tool" && chmod 755 "$1/tool"
    echo "root's settings" > "$1/notes"
    echo "not a record" > "$1/$(printf '%040d' 7)"     # named like a record
    chmod 755 "$1"
}
victim_state() { (cd "$1" && stat -c '%U:%G %a %s %n' . * && sha1sum *) 2>&1; }
victim_fill "$H_DIR/victim"
victim_fill "$H_DIR/victim2/ocsp_guard"
before=$(victim_state "$H_DIR/victim")
before2=$(victim_state "$H_DIR/victim2/ocsp_guard")
intact() { h_eq "$(victim_state "$H_DIR/victim")" "$before"; }
intact2() { h_eq "$(victim_state "$H_DIR/victim2/ocsp_guard")" "$before2"; }

# a cache directory owned by the server's user, as earlier versions left it
mkdir "$H_DIR/cache" && chown www-data:www-data "$H_DIR/cache"
h_conf guard "$HP" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/cache
$(h_vhost "$HP" leaf)" >/dev/null
h_check "starts" h_httpd_start guard
h_check "good staple" good_at "$HP"
h_check "the record is stored" h_until 5 has_record "$H_DIR/cache/ocsp_guard"

# 1. graceful restart after the consumer directory became a symlink
h_check "the server's user can swap the consumer directory for a symlink" \
    as_www "mv $H_DIR/cache/ocsp_guard $H_DIR/cache/moved && ln -s $H_DIR/victim $H_DIR/cache/ocsp_guard"
n=$(generations)
h_httpd_graceful guard
h_check "graceful restart done" h_until 20 restarted_since "$n"
h_check "graceful: the symlinked directory still belongs to root, every file intact" intact
h_check "graceful: the refusal is logged, naming the directory" \
    h_log_has guard "socache_ocsp:error.*OG00805: .*$H_DIR/cache/ocsp_guard is a symbolic link"
h_check "graceful: still stapling" h_until 10 good_at "$HP"

# 2. plain restart (SIGHUP), then a stop and start
n=$(generations)
kill -HUP "$(h_httpd_pid guard)"
h_check "plain restart done" h_until 20 restarted_since "$n"
h_check "plain restart: the symlinked directory still belongs to root, every file intact" intact
h_httpd_stop guard
h_check "start with the symlink in place" h_httpd_start guard
h_check "start: every file intact" intact
h_httpd_stop guard

# 3. the directory above the consumer directory swapped, in a directory the
# server's user owns
mkdir "$H_DIR/wd" && chown www-data:www-data "$H_DIR/wd"
h_check "the server's user plants a symlink as the cache directory" \
    as_www "ln -s $H_DIR/victim2 $H_DIR/wd/cache"
h_conf guard2 "$HP" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/wd/cache
$(h_vhost "$HP" leaf)" >/dev/null
h_check "starts with a symlink above the consumer directory" h_httpd_start guard2
h_check "that root-owned tree is untouched" intact2
h_check "the symlink is refused, named" \
    h_log_has guard2 "socache_ocsp:error.*OG00805: .*$H_DIR/wd/cache is a symbolic link in a directory that users other than root can change"
h_httpd_stop guard2

# 4. configtest writes nothing: a symlink planted at the old probe's name,
# a directory that does not exist yet
as_www "rm $H_DIR/cache/ocsp_guard && mv $H_DIR/cache/moved $H_DIR/cache/ocsp_guard"
as_www "ln -s $H_DIR/victim/notes $H_DIR/cache/ocsp_guard/.tmp.configtest"
listing=$(ls -la --time-style=+%s "$H_DIR/cache/ocsp_guard")
h_check "configtest passes" "$H_APACHE2" -t -f "$H_DIR/guard.conf"
h_check "configtest truncates nothing through a planted symlink" intact
h_check "configtest leaves the directory as it was" \
    h_eq "$(ls -la --time-style=+%s "$H_DIR/cache/ocsp_guard")" "$listing"
h_conf fresh "$HP" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/notyet/cache
$(h_vhost "$HP" leaf)" >/dev/null
h_check "configtest passes for a directory that does not exist yet" "$H_APACHE2" -t -f "$H_DIR/fresh.conf"
h_check "and does not create it" test ! -e "$H_DIR/notyet"
as_www "ln -sfn $H_DIR/victim $H_DIR/wd/ocsp_guard"
h_conf swapped "$HP" event "$(h_guard_load)
OCSPGuardCache ocsp:$H_DIR/wd
$(h_vhost "$HP" leaf)" >/dev/null
h_check "configtest fails for a consumer directory that is a symlink" \
    bash -c "! $H_APACHE2 -t -f $H_DIR/swapped.conf >$H_DIR/swapped.ct 2>&1"
h_check "naming it" grep -q "$H_DIR/wd/ocsp_guard is a symbolic link" "$H_DIR/swapped.ct"
h_check "and touching nothing behind it" intact

# 5. DUMP_OCSP reads only: a corrupt record stays where it is
as_www "rm $H_DIR/cache/ocsp_guard/.tmp.configtest"
rec=$(find "$H_DIR/cache/ocsp_guard" -type f -name '[0-9a-f]*' | head -1)
head -c 20 "$rec" > "$rec.cut" && cat "$rec.cut" > "$rec" && rm "$rec.cut"
sum=$(sha1sum < "$rec")
h_check "DUMP_OCSP runs" bash -c "$H_APACHE2 -t -D DUMP_OCSP -f $H_DIR/guard.conf >$H_DIR/dump.out 2>&1"
h_check "DUMP_OCSP shows no cached response for it" grep -q "CN=localhost .* none *$" "$H_DIR/dump.out"
h_check "DUMP_OCSP leaves the corrupt record in place" h_eq "$(sha1sum < "$rec" 2>&1)" "$sum"
h_done
