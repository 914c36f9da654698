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
# A fixed number of requests at a given concurrency: exactly that many are measured.
out=$("$1" --count 200 --conc 3 --warmup 0 --synthea /nonexistent --requests fixtures/requests --workers 2 conc 2>&1)
status=$?
echo "$out"
test $status -eq 0 || { echo "FAIL: cdsd-bench --count exited $status"; exit 1; }
echo "$out" | grep -q "cdsd c=3 *n=200 *err=0 " || { echo "FAIL: --count 200 --conc 3 did not measure 200 requests"; exit 1; }
echo "2 passed, 0 failed"
