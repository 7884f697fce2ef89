#!/usr/bin/env bash
# `make bench`: RPC latency/throughput of a release laloD over its real socket (audit on).
set -euo pipefail
exec .build/release/lalo-bench --clients "${CLIENTS:-1,16}" --seconds "${SECONDS_PER_RUN:-5}" "$@"
