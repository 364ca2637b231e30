#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# First handshake after start with a responder answering in 3 s: time from
# `apache2 -k start` to the first completed handshake, and its staple, with
# an empty cache and again with the warm cache of a second start.
# Prints cold.KIND.PHASE_ms and cold.KIND.PHASE_staple.
#   bench/coldstart.sh
set -u
source "$(dirname "$0")/lib.sh"
bench_setup coldstart
note "cold start with a 3 s responder"
h_front_mode delay:3
stapled_at() { [ "$(staple_at "$1")" = good ]; }
for k in off guard guard-nowait modssl md; do
    port=$(h_free_port)
    server_conf "cold_$k" "$port" "$k" "$H_DIR/coldcache-$k"
    for phase in empty warm; do
        "$H_APACHE2" -f "$H_DIR/cold_$k.conf" -k start &
        starter=$!
        first=$("$BIN/hsload" --first 127.0.0.1 "$port" 40)
        wait "$starter"
        emit "cold.$k.${phase}_ms" "$(echo "$first" | kv first_ms)"
        emit "cold.$k.${phase}_staple" "$(echo "$first" | kv staple)"
        sleep 1
        # the second start is warm only once the first got its response
        # (a server that accepts at once gets it after the 3 s)
        [ "$k" = off ] || [ "$phase" = warm ] || h_until 15 stapled_at "$port" || true
        h_httpd_stop "cold_$k"
    done
done
h_done
