#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# Three nodes sharing one Redis against three with separate caches, over
# responses valid one minute: responder requests of each setup and how many
# checks found no good staple. Prints cluster.seconds, cluster.shared_requests,
# cluster.separate_requests, cluster.single_node_requests, cluster.unstapled_checks.
#   BENCH_QUICK=1 bench/cluster.sh
set -u
source "$(dirname "$0")/lib.sh"
CLUSTER_S=$([ "$QUICK" = 1 ] && echo 35 || echo 130)
bench_setup cluster
note "cluster: 3 nodes sharing Redis vs 3 separate, ${CLUSTER_S} s, 1-minute responses"
CRP=$(h_free_port) FS=$(h_free_port) FX=$(h_free_port) RDP=$(h_free_port)
openssl ocsp -index "$PKI/index.txt" -port "$CRP" -CA "$PKI/ca.crt" -rsigner "$PKI/responder.crt" \
    -rkey "$PKI/responder.key" -nmin 1 -timeout 5 >>"$H_DIR/cluster-responder.log" 2>&1 &
H_PIDS+=("$!")
h_wait_port "$CRP"
for f in "$FS" "$FX"; do
    echo pass > "$H_DIR/front$f.mode"
    python3 "$BENCH_ROOT/test/lib/faultfront.py" "$f" "$CRP" "$H_DIR/front$f.mode" >>"$H_DIR/front$f.log" 2>&1 &
    H_PIDS+=("$!")
    h_wait_port "$f"
done
redis-server --port "$RDP" --bind 127.0.0.1 --save "" --appendonly no --dir "$H_DIR" >>"$H_DIR/redis.log" 2>&1 &
H_PIDS+=("$!")
h_wait_port "$RDP"
declare -A NODEPORT
for i in 1 2 3; do
    for kind in shared separate; do
        p=$(h_free_port); NODEPORT[$kind$i]=$p
        if [ $kind = shared ]; then
            cache="ocsp:$H_DIR/node-$kind$i,redis=127.0.0.1:$RDP" front=$FS
        else
            cache="ocsp:$H_DIR/node-$kind$i" front=$FX
        fi
        H_LOGLEVEL=warn h_conf "$kind$i" "$p" event "$(h_guard_load)
OCSPGuardCache $cache
OCSPGuardResponder http://127.0.0.1:$front/
$(h_vhost "$p" leaf)" >/dev/null
        start_wait "$kind$i"
    done
    sleep 1
done
end=$(( $(date +%s) + CLUSTER_S ))
missing=0
while [ "$(date +%s)" -lt "$end" ]; do
    for node in "${!NODEPORT[@]}"; do
        [ "$(staple_at "${NODEPORT[$node]}")" = good ] || missing=$((missing + 1))
    done
    sleep 2
done
for node in "${!NODEPORT[@]}"; do h_httpd_stop "$node"; done
separate=$(grep -c '^request' "$H_DIR/front$FX.log")
emit cluster.seconds "$CLUSTER_S"
emit cluster.shared_requests "$(grep -c '^request' "$H_DIR/front$FS.log")"
emit cluster.separate_requests "$separate"
emit cluster.single_node_requests $(( (separate + 2) / 3 ))   # a third of the separate nodes' total
emit cluster.unstapled_checks "$missing"
h_done
