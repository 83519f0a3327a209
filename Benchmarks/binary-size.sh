#!/bin/sh
# Size of the stripped release binary of drippay-kiosk (what goes onto the board).
# Slow: a full release build. Run from the package root.
set -eu
swift build -c release --product drippay-kiosk
bin="$(swift build -c release --show-bin-path)/drippay-kiosk"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$bin" "$tmp/drippay-kiosk"
strip "$tmp/drippay-kiosk"
echo "unstripped: $(stat -c %s "$bin") bytes"
echo "stripped:   $(stat -c %s "$tmp/drippay-kiosk") bytes ($(du -h "$tmp/drippay-kiosk" | cut -f1))"
echo "shared libraries it needs:"
ldd "$tmp/drippay-kiosk" | sed 's/^/  /'
