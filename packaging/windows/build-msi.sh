#!/usr/bin/env bash
# Builds galmirror's Windows Installer package on Linux with wixl.
#
#   packaging/windows/build-msi.sh VERSION [EXE]
#
# VERSION is the release version (1.4.0, v1.4.0, 1.4.0-rc1: the MSI's
# ProductVersion is its first three numbers, which is what MajorUpgrade
# compares). EXE is a galmirror.exe (windows/amd64) to package, e.g. a
# signed one from scripts/release.sh; without it the script builds one
# (reproducibly: -trimpath, no build id, SOURCE_DATE_EPOCH or the last
# commit's time). Writes ${OUT:-dist}/galmirror-VERSION-x64.msi.
#
# Needs: go, wixl (Debian: apt-get install wixl; msitools to inspect the
# result with msiinfo). wixl 0.101 builds x86 and x64 packages only: there is
# no arm64 MSI (the arm64 exe is released on its own).
#
# The package is reproducible: the product code and package code are derived
# from VERSION and the exe's hash, and file times from SOURCE_DATE_EPOCH.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 VERSION [EXE]" >&2
	exit 2
fi
VERSION=$1
EXE=${2:-}
OUT=${OUT:-dist}
command -v wixl >/dev/null || { echo "$0: wixl not found (Debian: apt-get install wixl msitools)" >&2; exit 1; }

# 1.4.0, v1.4.0, 1.4.0-rc1, 1.4.0+build → 1.4.0 (major, minor < 256; build < 65536).
msiver=${VERSION#v}
msiver=${msiver%%[-+]*}
if ! [[ $msiver =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] ||
	[ "${BASH_REMATCH[1]}" -gt 255 ] || [ "${BASH_REMATCH[2]}" -gt 255 ] || [ "${BASH_REMATCH[3]}" -gt 65535 ]; then
	echo "$0: version $VERSION: the MSI needs MAJOR.MINOR.PATCH (major and minor at most 255, patch at most 65535)" >&2
	exit 2
fi

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "$EXE" ]; then
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -trimpath -buildvcs=false \
		-ldflags "-buildid= -s -w -X main.version=$VERSION" -o "$work/galmirror.exe" ./cmd/galmirror
else
	[ -f "$EXE" ] || { echo "$0: $EXE: no such file" >&2; exit 2; }
	cp "$EXE" "$work/galmirror.exe"
fi
touch -d "@$SOURCE_DATE_EPOCH" "$work/galmirror.exe"

# A GUID (upper case, no braces) from a hash: the same input gives the same GUID.
guid() {
	local h
	h=$(printf '%s' "$1" | sha256sum | cut -c1-32 | tr a-f A-F)
	printf '%s-%s-4%s-8%s-%s' "${h:0:8}" "${h:8:4}" "${h:13:3}" "${h:17:3}" "${h:20:12}"
}
exehash=$(sha256sum "$work/galmirror.exe" | cut -c1-64)
# A new product code per version (what a major upgrade needs), a new package
# code per distinct package.
product=$(guid "galmirror product $msiver")
package=$(guid "galmirror package $msiver $exehash")

mkdir -p "$OUT"
msi="$OUT/galmirror-$VERSION-x64.msi"
# wixl 0.101 resolves File/@Source only relative to the working directory.
cp packaging/windows/galmirror.wxs "$work/"
(cd "$work" && wixl -a x64 -D Version="$msiver" -D ProductCode="$product" \
	-o galmirror.msi galmirror.wxs 2>wixl.err) || { cat "$work/wixl.err" >&2; exit 1; }
grep -v -e '^$' -e "has no property named 'Secure'" -e "has no property named 'Hidden'" "$work/wixl.err" >&2 || true

# What wixl 0.101 cannot say in the .wxs, set in the tables with msibuild:
# - the configure action's HideTarget bit (0x2000), so that Windows
#   Installer never logs its command line (it holds CERTPASSWORD);
# - the public properties in SecureCustomProperties, so that they reach the
#   elevated install also in a managed (policy) install by a non-admin.
(
	cd "$work"
	msiinfo export galmirror.msi CustomAction >CustomAction.idt
	awk -F'\t' 'BEGIN { OFS = "\t"; ORS = "\r\n" } { sub(/\r$/, "") } $1 == "GalmirrorConfigure" && int($2 / 8192) % 2 == 0 { $2 += 8192 } { print }' CustomAction.idt >ca.idt
	mv ca.idt CustomAction.idt
	msiinfo export galmirror.msi Property >Property.idt
	awk -F'\t' 'BEGIN { OFS = "\t"; ORS = "\r\n" } { sub(/\r$/, "") } $1 == "SecureCustomProperties" { $2 = $2 ";SETTINGSFILE;CERTFILE;CERTPASSWORD;STARTSERVICE;PURGE" } { print }' Property.idt >p.idt
	mv p.idt Property.idt
	msibuild galmirror.msi -i CustomAction.idt -i Property.idt
)
msiinfo export "$work/galmirror.msi" CustomAction | grep -q "^GalmirrorConfigure	11282	" ||
	{ echo "$0: could not set HideTarget on GalmirrorConfigure" >&2; exit 1; }
msiinfo export "$work/galmirror.msi" Property | grep -q "^SecureCustomProperties	.*;CERTPASSWORD;" ||
	{ echo "$0: could not extend SecureCustomProperties" >&2; exit 1; }

# wixl writes the build's time and a random package code into the summary
# information: fixed ones make the package reproducible.
go run ./packaging/windows/msistamp -time "$SOURCE_DATE_EPOCH" -package-code "{$package}" "$work/galmirror.msi"
mv "$work/galmirror.msi" "$msi"
echo "$msi"
