#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Turns the key=value lines of a benchmark run into docs/BENCHMARKS.md.
# Writes only; what the figures must show is checked by bench/sanity.sh.
#   bench/report.sh RESULTS > BENCHMARKS.md
set -u
RES=$1
v() { sed -n "s/^$1=//p" "$RES" | tail -1; }
or() { local x; x=$(v "$1"); echo "${x:-${2:-n/a}}"; }

QUICK=$(or run.quick 0)
if [ "$QUICK" = 1 ]; then BIG=50 BIGTXT=50; else BIG=10000 BIGTXT=10,000; fi
cat <<EOT
# Benchmarks

Made by \`$(or run.command)\` on $(or run.date) in $(or run.seconds) s. Every figure comes from one run on one machine, the
servers measured side by side (interleaved rounds, medians of per-round ratios); numbers from
another run or machine differ, ratios less so.

- Machine: $(or run.machine)
- $(or run.software)
- Load client: \`build/bench/hsload\` (C, full handshakes, status_request, no resumption, $(or handshake.threads) threads); the staple is checked in a separate round
- Responder: \`openssl ocsp\` on loopback; the fault front adds the 3 s delay for item 3

## Goals

| goal | target | measured |
|---|---|---|
| handshake rate with mod_ocsp_guard (TLS 1.3 ECDSA) | ≥ 0.99 of stapling off | $(or handshake.tls13_ec.guard_ratio) (run-to-run noise here is about ±3 %) |
| instructions the stapling hook adds to a handshake | (≤ 1 % of the handshake) | $(or callgrind.share_percent "not measured in --quick") % |
| staple lookup | < 1 µs, flat in the number of certificates | ≤ $(sed -n 's/^lookup\.[0-9]*\.ns=//p' "$RES" | sort -g | tail -1) ns |
| first handshake after a cold start | a good staple, no handshake waits on the responder | $(or cold.guard.empty_ms) ms, staple $(or cold.guard.empty_staple) |
| first handshake after a warm start with OCSPGuardStartupWait 0 | a staple (from the local cache, read before children accept) | 1 certificate: $(or cold.guard-nowait.warm_ms) ms, staple $(or cold.guard-nowait.warm_staple); $BIGTXT certificates (the one read last): $(or scale.$BIG.nowait_first_ms) ms after start, staple $(or scale.$BIG.nowait_first_staple) |
| warm start with $BIGTXT certificates | adds < 1 s | $(or scale.$BIG.start_warm_s) s vs $(or scale.$BIG.start_base_s) s without the module: $(or scale.$BIG.start_warm_delta_s) s more (median of interleaved rounds; priming $(or scale.$BIG.warm_prime_ms) ms, then the parent waits $(or scale.$BIG.warm_wait_ms) ms, for the local cache read and verified in $(or scale.$BIG.warm_local_ms) ms) |
| extra memory with $BIGTXT certificates | < 64 MiB | parent +$(or scale.$BIG.parent_rss_extra_mib) MiB, child +$(or scale.$BIG.child_rss_extra_mib) MiB |
| responder requests per second during the fill ($BIGTXT certificates) | ≤ OCSPGuardResponderRate ($(or scale.rate_limit) in this run; default 50) | max $(or scale.$BIG.max_requests_per_s) in one second |
| TCP connections per 1,000 responses at the initial fill ($BIGTXT certificates) | ≤ 1 per OCSPGuardFetchConcurrency worker per responder ($(or scale.concurrency 4)) | $(or scale.$BIG.connections) connection(s) for $(or scale.$BIG.fill_requests) responses: $(or scale.$BIG.connections_per_1000) per 1,000 |
| cluster of 3 sharing Redis | about as many requests as one node | $(or cluster.shared_requests) vs $(or cluster.single_node_requests) for one node ($(or cluster.separate_requests) with separate caches) |

## Results

### 1. Handshake rate, relative to stapling off

| protocol / key | stapling off (handshakes/s) | mod_ocsp_guard | mod_ssl SSLUseStapling | mod_md MDStapling | staple seen (guard / mod_ssl / mod_md) |
|---|---|---|---|---|---|
EOT
for c in $(or handshake.combos ""); do
    echo "| ${c/_/ } | $(or handshake.$c.off_rate) | $(or handshake.$c.guard_ratio) | $(or handshake.$c.modssl_ratio) | $(or handshake.$c.md_ratio) | $(or handshake.$c.guard_staple) / $(or handshake.$c.modssl_staple) / $(or handshake.$c.md_staple) |"
done
cat <<EOT

### 2. One staple lookup on the handshake path (find + copy + time check)

| primed certificates | ns per lookup |
|---|---|
EOT
sed -n 's/^lookup\.\([0-9]*\)\.ns=\(.*\)/| \1 | \2 |/p' "$RES"
if [ -n "$(v callgrind.per_handshake)" ]; then
cat <<EOT

### 2b. Instructions per handshake (callgrind, deterministic)

\`bench/callgrind.sh 50\`: apache2 -X under callgrind, $(or callgrind.handshakes) TLS 1.3 ECDSA handshakes with status_request ($(or callgrind.stapled) of the last 50 with a good staple).

| instructions per handshake | in mod_ocsp_guard's stapling hook | share |
|---|---|---|
| $(or callgrind.per_handshake) | $(or callgrind.hook) | $(or callgrind.share_percent) % |
EOT
fi
cat <<EOT

### 3. First handshake after start, responder answering in 3 s

Time from \`apache2 -k start\` to the first completed handshake, and its staple.

| server | empty cache | warm cache (second start) |
|---|---|---|
EOT
for k in off guard guard-nowait modssl md; do
    echo "| $k | $(or cold.$k.empty_ms) ms, staple $(or cold.$k.empty_staple) | $(or cold.$k.warm_ms) ms, staple $(or cold.$k.warm_staple) |"
done
cat <<EOT

off: stapling off (baseline start-up). guard: mod_ocsp_guard with socache_ocsp (OCSPGuardStartupWait 5:
the server starts accepting once the first responses are in, so no handshake ever waits on the responder).
guard-nowait: the same with OCSPGuardStartupWait 0 (accepts once the local cache files are read, which asks
no responder; staples the rest once the responder answers).
modssl: SSLUseStapling with shmcb (the handshake itself waits for the responder). md: MDStapling, MDStapleOthers on.

### 4. Scale: SNI virtual hosts, one CA

| certificates | start, no module (s) | start, empty cache (s) | start, warm cache (s) | warm minus no module (s) | all stapled after (s) | max responder requests in one second | TCP connections at the fill (per 1,000 responses) | requests at warm start | parent RSS extra (MiB) | child RSS extra (MiB) |
|---|---|---|---|---|---|---|---|---|---|---|
EOT
for n in $(or scale.sizes ""); do
    echo "| $n | $(or scale.$n.start_base_s) | $(or scale.$n.start_empty_s) | $(or scale.$n.start_warm_s) | $(or scale.$n.start_warm_delta_s) | $(or scale.$n.filled_s) | $(or scale.$n.max_requests_per_s) | $(or scale.$n.connections) ($(or scale.$n.connections_per_1000)) | $(or scale.$n.warm_requests) | $(or scale.$n.parent_rss_extra_mib) | $(or scale.$n.child_rss_extra_mib) |"
done
cat <<EOT

Empty-cache start includes OCSPGuardStartupWait (5 s) when the fill takes longer. Warm start: the
parent waits while the refresher reads and verifies every certificate's cached response on every core.
Start times without the module and warm are medians of $(or scale.rounds 3) interleaved rounds; "warm minus no
module" is the median of the rounds' differences. RSS extra: the
same configuration without the modules subtracted. OCSPGuardFetchConcurrency 4, OCSPGuardResponderRate
$(or scale.rate_limit) (a fill of N certificates takes at least N / that many seconds). TCP connections: those
the responder's front accepted during the fill; requests to one responder reuse kept-alive connections
(HTTP/1.0 keep-alive), so the count stays at about one per worker.

### 5. Cluster of three nodes, $(or cluster.seconds) s, responses valid one minute

| setup | responder requests | one node alone would make about | handshakes without a good staple |
|---|---|---|---|
| 3 nodes sharing one Redis | $(or cluster.shared_requests) | $(or cluster.single_node_requests) | $(or cluster.unstapled_checks) (all nodes) |
| 3 nodes with separate caches | $(or cluster.separate_requests) | $(or cluster.single_node_requests) | |

## Commands

\`make bench\` (about 10 minutes) or \`make bench-quick\` (about 2 minutes). \`bench/run.sh\` runs one
script per benchmark (\`bench/handshake.sh\`, \`lookup.sh\`, \`callgrind.sh\`, \`coldstart.sh\`,
\`scale.sh\`, \`cluster.sh\`), each printing \`key=value\` lines; \`bench/report.sh\` writes this page
from them.
EOT
