# check.sh — sourced by the shell tests (run from the repository root): `check NAME CMD...` counts
# CMD's success as a pass, else prints "FAIL: NAME"; `check_summary` prints the counts and fails
# when any check did.
fails=0; passes=0
check() {
    name="$1"; shift
    if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
check_summary() {
    echo "$passes passed, $fails failed"
    test "$fails" -eq 0
}
