#!/bin/sh
# bench_smoke.sh BENCH — the benchmark harness runs (briefly) and every request succeeds.
# Numbers are not checked here: they come from real runs (README, "Benchmarks").
set -u
out=$("$1" --duration 0.3 --warmup 0 --synthea /nonexistent --requests fixtures/requests --workers 2 --repeat 2 inproc seq 2>&1)
status=$?
echo "$out"
test $status -eq 0 || { echo "FAIL: cdsd-bench exited $status"; exit 1; }
runs=$(echo "$out" | grep -c "n=[1-9]")
errs=$(echo "$out" | grep -c "err=[1-9]")
test "$runs" -eq 3 -a "$errs" -eq 0 || { echo "FAIL: $runs runs with requests, $errs with errors"; exit 1; }
echo "1 passed, 0 failed"
