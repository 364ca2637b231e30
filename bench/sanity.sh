#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# What a benchmark run must have shown, whatever the timings: the benchmarks
# work. Run by make bench-quick (and so by make test) on its results file.
#   bench/sanity.sh RESULTS
set -u
source "$(dirname "$0")/../test/lib/harness.sh"
RES=$1
v() { sed -n "s/^$1=//p" "$RES" | tail -1; }
every_staple_good() { ! grep -E '^handshake\..*_staple=' "$RES" | grep -qv '=good$'; }
h_check "bench: every stapler stapled in the verification rounds" every_staple_good
h_check "bench: the lookup benchmark ran" grep -q '^lookup\.[0-9]*\.ns=[0-9.]*$' "$RES"
h_check "bench: mod_ocsp_guard staples the first handshake, cold and warm" \
    bash -c "[ '$(v cold.guard.empty_staple)' = good ] && [ '$(v cold.guard.warm_staple)' = good ]"
h_check "bench: with OCSPGuardStartupWait 0 and a warm cache the first handshake is stapled too" \
    h_eq "$(v cold.guard-nowait.warm_staple)" good
nowait_first_stapled() { # every size: the last certificate's first handshake
    local n
    for n in $(v scale.sizes); do
        [ "$(v "scale.$n.nowait_first_staple")" = good ] ||
            { echo "   scale $n: $(v "scale.$n.nowait_first_staple")" >&2; return 1; }
    done
}
h_check "bench: at scale too, the first handshake of a warm start with OCSPGuardStartupWait 0" \
    nowait_first_stapled
h_check "bench: every certificate of the scale runs got a staple" bash -c "! grep -q '^scale\..*\.filled_s=none' '$RES'"
fill_connections_bounded() { # at most one kept connection per worker, for every size
    local n c
    for n in $(v scale.sizes); do
        c=$(v "scale.$n.connections")
        [ -n "$c" ] && [ "$c" -ge 1 ] && [ "$c" -le "$(v scale.concurrency)" ] ||
            { echo "   scale $n: ${c:-no} connections for $(v "scale.$n.fill_requests") responses" >&2; return 1; }
    done
}
h_check "bench: the fill reused kept connections (at most one per worker)" fill_connections_bounded
fill_rate_bounded() { # the busiest second at the responder within OCSPGuardResponderRate
    local n m
    for n in $(v scale.sizes); do
        m=$(v "scale.$n.max_requests_per_s")
        [ -n "$m" ] && [ "$m" -le "$(v scale.rate_limit)" ] ||
            { echo "   scale $n: ${m:-no figure} requests in one second, limit $(v scale.rate_limit)" >&2; return 1; }
    done
}
h_check "bench: no second of the fill exceeded OCSPGuardResponderRate" fill_rate_bounded
h_check "bench: the cluster served a good staple at every check" h_eq "$(v cluster.unstapled_checks)" 0
h_done
