#!/bin/sh
# render_report.sh HTML PNG — the HTML report renders in headless Chromium to a non-empty
# screenshot whose pixels are not all one colour (the charts are drawn).
set -eu
HTML="$1"; PNG="$2"
rm -f "$PNG"
PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$PROFILE" --window-size=1000,1200 \
    --screenshot="$PNG" "file://$HTML" >/dev/null 2>&1
test -s "$PNG" || { echo "FAIL: no screenshot"; exit 1; }
# a PNG of one flat colour compresses to almost nothing; a drawn page does not
size=$(wc -c <"$PNG")
echo "screenshot $PNG: $size bytes"
test "$size" -gt 20000 || { echo "FAIL: the page looks blank"; exit 1; }
echo "1 passed, 0 failed"
