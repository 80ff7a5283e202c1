#!/usr/bin/env bash
# Builds a galmirror release into dist/.
#
#   scripts/release.sh VERSION
#
#   dist/galmirror-VERSION-linux-amd64          dist/galmirror-VERSION-windows-amd64.exe
#   dist/galmirror-VERSION-linux-arm64          dist/galmirror-VERSION-windows-arm64.exe
#   dist/galmirror_VERSION_amd64.deb            dist/galmirror-VERSION-x64.msi
#   dist/galmirror_VERSION_arm64.deb            dist/SHA256SUMS
#
# (wixl builds no arm64 MSI: Windows on arm64 runs the x64 MSI's service
# under emulation, or the arm64 exe with `galmirror service install`.)
#
# Reproducible: -trimpath, no build id, no VCS stamp, file and archive times
# from SOURCE_DATE_EPOCH (default: the last commit's time), the MSI's
# package code from the version and the exe. The same commit, Go version
# and SOURCE_DATE_EPOCH give the same SHA256SUMS (CI builds twice and
# compares).
#
# Authenticode (optional): with SIGN_PFX (a code-signing PFX) and
# SIGN_PASSWORD_FILE (a file holding its password), osslsigncode signs both
# .exe files, and the MSI is built around the signed x64 exe and signed
# itself. SIGN_TIMESTAMP_URL adds an RFC 3161 timestamp (needs the network;
# without it the signature is dated SOURCE_DATE_EPOCH and stays
# reproducible).
#
# Needs: go, wixl and msitools (the MSI), dpkg-deb (the .deb), osslsigncode
# (signing). OUT=dir writes elsewhere than dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then
	echo "usage: $0 VERSION" >&2
	exit 2
fi
VERSION=$1
OUT=${OUT:-dist}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
if [ -n "${SIGN_PFX:-}" ]; then
	[ -r "$SIGN_PFX" ] && [ -r "${SIGN_PASSWORD_FILE:-}" ] ||
		{ echo "$0: signing needs SIGN_PFX and SIGN_PASSWORD_FILE, both readable" >&2; exit 2; }
	command -v osslsigncode >/dev/null || { echo "$0: osslsigncode not found (Debian: apt-get install osslsigncode)" >&2; exit 1; }
fi
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

build() { # build GOOS GOARCH OUTPUT
	echo "build $1/$2" >&2
	GOOS=$1 GOARCH=$2 CGO_ENABLED=0 go build -trimpath -buildvcs=false \
		-ldflags "-buildid= -s -w -X main.version=$VERSION" -o "$3" ./cmd/galmirror
	touch -d "@$SOURCE_DATE_EPOCH" "$3"
}

sign() { # sign FILE: Authenticode-sign FILE in place
	[ -n "${SIGN_PFX:-}" ] || return 0
	echo "sign $(basename "$1")" >&2
	local ts=()
	if [ -n "${SIGN_TIMESTAMP_URL:-}" ]; then
		ts=(-ts "$SIGN_TIMESTAMP_URL")
	fi
	osslsigncode sign -pkcs12 "$SIGN_PFX" -readpass "$SIGN_PASSWORD_FILE" -h sha256 \
		-n galmirror -i https://github.com/galmirror/galmirror -time "$SOURCE_DATE_EPOCH" "${ts[@]}" \
		-in "$1" -out "$1.signed" >/dev/null
	mv "$1.signed" "$1"
	touch -d "@$SOURCE_DATE_EPOCH" "$1"
}

for arch in amd64 arm64; do
	build linux $arch "$OUT/galmirror-$VERSION-linux-$arch"
	build windows $arch "$OUT/galmirror-$VERSION-windows-$arch.exe"
	sign "$OUT/galmirror-$VERSION-windows-$arch.exe"
	OUT=$OUT packaging/linux/build-deb.sh "$VERSION" $arch "$OUT/galmirror-$VERSION-linux-$arch" >/dev/null
done
OUT=$OUT packaging/windows/build-msi.sh "$VERSION" "$OUT/galmirror-$VERSION-windows-amd64.exe" >/dev/null
sign "$OUT/galmirror-$VERSION-x64.msi"

(cd "$OUT" && sha256sum -- galmirror* >SHA256SUMS)
cat "$OUT/SHA256SUMS"
