# bench/instr_lib.sh — sourced by the *_instr.sh scripts: instructions per in-process request
# (callgrind), counted at N and at 200 requests with a rule set, the difference over N - 200, so
# set-up (loading the rules and the knowledge base) cancels out. Load-independent, unlike p50.
# Needs $B (build dir), $N and $T (a scratch dir).
command -v valgrind >/dev/null || { echo "$0: valgrind is not installed" >&2; exit 2; }
# A run with errors (a rule stopped by its time budget's wall-clock backstop on a busy machine,
# valgrind being ~50x slower) did less work: its count would mean nothing.
ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/cdsd-bench" --rules "$1" --count "$2" --warmup 0 \
        inproc > "$T/out" 2>&1 || true
    if ! grep -q '^inproc .* err=0 ' "$T/out"; then
        echo "$0: the run with $1 at $2 requests had errors or failed:" >&2
        grep -v '^==' "$T/out" >&2
        exit 1
    fi
    awk '/Collected/ { print $NF }' "$T/out"
}
per() { a=$(ir "$1" "$N"); b=$(ir "$1" 200); echo $(( (a - b) / (N - 200) )); }
