#!/bin/sh
# The packaged binary (Swift runtime and FoundationEssentials linked in, lld, the code in its
# profiled order: scripts/package) against a dynamic one built from the same sources without
# --static-swift-stdlib and linked the plain way (gold, no order: what `swift build -c release`
# makes): sizes and shared libraries, then start to READY=1 and idle RSS of both, alternating, in
# one run of `drippay-bench daemon`.
# Slow the first time (two release builds). ROUNDS=N (default 3) rounds of each.
set -eu
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
scripts/package >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp .build-release/deb/debian/drippay-kiosk/usr/bin/drippay-kiosk "$tmp/static"

# scripts/package's flags less --static-swift-stdlib and the link layout. A scratch path of its own: that
# flag changes the compile commands too, so sharing .build-release would rebuild both each time.
set -- swift build -c release --product drippay-kiosk --scratch-path .build-release-dynamic --disable-local-rpath \
    -Xswiftc -DDRIPPAY_KIOSK_PACKAGED -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now -Xlinker -z -Xlinker noexecstack -Xlinker --no-export-dynamic
"$@" >&2
cp "$("$@" --show-bin-path)/drippay-kiosk" "$tmp/dynamic"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$tmp/dynamic"

swift build --product drippay-bench >&2
swift build --product drippay-kiosk >&2 # drippay-bench wants a drippay-kiosk next to it (unused here)
bench="$(swift build --show-bin-path)/drippay-bench"

for kind in static dynamic; do
    libs=$(ldd "$tmp/$kind" | grep -c '=>' || true)
    swift_libs=$(ldd "$tmp/$kind" | grep -ciE 'swift|Foundation|dispatch|BlocksRuntime' || true)
    echo "$kind binary (stripped): $(stat -c %s "$tmp/$kind") bytes; $libs shared libraries, $swift_libs of them the Swift runtime's"
done
dynamic_libs_kib=$(ldd "$tmp/dynamic" | awk '/swift|Foundation|dispatch|BlocksRuntime/ { print $3 }' | xargs stat -L -c %s | awk '{ s += $1 } END { print int(s / 1024) }')
echo "dynamic binary's Swift libraries on disk: $dynamic_libs_kib KiB (on the board they would have to be installed too)"

list=""
i=0
while [ "$i" -lt "$rounds" ]; do
    list="$list static=$tmp/static dynamic=$tmp/dynamic"
    i=$((i + 1))
done
DAEMON_BENCH_BINARIES="${list# }" DAEMON_BENCH_VENDS=0 "$bench" daemon
