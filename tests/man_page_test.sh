#!/bin/sh
# man_page_test.sh — man/cdsd.1 covers every command `cdsd --help` lists and every flag each
# command's --help prints (serve's come from its option table, so a new flag fails this test until
# it is documented), and renders without groff warnings.
# usage: man_page_test.sh path/to/cdsd   (run from the repository root)
set -u
CDSD="$1"
MAN=man/cdsd.1
. tests/check.sh
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
roff() { printf '%s' "$1" | sed 's/-/\\-/g'; }   # how a name is written in the page

"$CDSD" --help | sed -n 's/^  \([a-z-]*\) .*/\1/p' >"$T/commands"
check "cdsd --help lists commands" test "$(wc -l <"$T/commands")" -ge 10
while read -r cmd; do
    check "the page has a section for cdsd $cmd" grep -qF ".SS \"cdsd $(roff "$cmd")" "$MAN"
    "$CDSD" "$cmd" --help >"$T/help" 2>&1
    [ "$cmd" = kb ] && "$CDSD" kb build --help >>"$T/help" 2>&1
    for flag in $(grep -o -- '--[a-z][a-z-]*' "$T/help" | sort -u); do
        [ "$flag" = --help ] && continue
        check "the page documents cdsd $cmd $flag" grep -qF -- "$(roff "$flag")" "$MAN"
    done
done <"$T/commands"
# each serve flag has its own paragraph (.TP then .BI/.B --flag), not only a mention
for flag in $("$CDSD" serve --help | sed -n 's/^  \(--[a-z-]*\).*/\1/p'); do
    check "the page has a paragraph for serve $flag" grep -qE "^\.BI? $(roff "$flag" | sed 's/\\/\\\\/g')( |$)" "$MAN"
done

if command -v man >/dev/null 2>&1; then
    LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$MAN" >/dev/null 2>"$T/warn"
    check "the page renders without warnings" test ! -s "$T/warn"
    cat "$T/warn"
else
    echo "SKIPPED: man is not installed (rendering not checked)"
fi

check_summary
