#!/bin/bash
# Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE).
# One staple lookup on the handshake path (find + copy + time check), for
# 1, 1,000 and 10,000 primed certificates: lookup.N.ns.
#   BENCH_QUICK=1 bench/lookup.sh
set -u
source "$(dirname "$0")/lib.sh"
note "staple lookup cost"
"$BIN/lookup_bench" $([ "$QUICK" = 1 ] && echo 200000 || echo 3000000)
