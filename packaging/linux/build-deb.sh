#!/usr/bin/env bash
# Builds galmirror's Debian package.
#
#   packaging/linux/build-deb.sh VERSION [ARCH [BINARY]]
#
# VERSION is the release version (1.4.0, v1.4.0, 1.4.0-rc1); ARCH is amd64
# (default) or arm64; BINARY is a galmirror built for linux/ARCH (without it
# the script builds one, reproducibly: -trimpath, no build id). Writes
# ${OUT:-dist}/galmirror_VERSION_ARCH.deb.
#
# The package: /usr/bin/galmirror; the systemd unit (packaging/systemd's,
# running as the system user galmirror instead of a dynamic one); the user
# and group galmirror; /etc/galmirror (0750 root:galmirror: settings and
# certificates the service reads; galmirror.env 0600 for PFX passwords) and
# /var/lib/galmirror (0700 galmirror: the state). Installing does not start
# the service: `galmirror deploy` writes the settings, enables and starts
# it. Purging deletes both folders and the user.
#
# Needs: go, dpkg-deb. Reproducible: file times and the archive's from
# SOURCE_DATE_EPOCH (default: the last commit's time), owners root.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 1 ] || [ $# -gt 3 ]; then
	echo "usage: $0 VERSION [ARCH [BINARY]]" >&2
	exit 2
fi
VERSION=${1#v}
ARCH=${2:-amd64}
BIN=${3:-}
OUT=${OUT:-dist}
case $ARCH in amd64 | arm64) ;; *) echo "$0: architecture $ARCH: amd64 or arm64" >&2; exit 2 ;; esac
# Debian orders 1.4.0~rc1 before 1.4.0, as semver orders 1.4.0-rc1.
debver=$(printf '%s' "$VERSION" | sed -e 's/-/~/' -e 's/+/+/')
if ! [[ $debver =~ ^[0-9][0-9A-Za-z.+~]*$ ]]; then
	echo "$0: version $1 is not a Debian version" >&2
	exit 2
fi
command -v dpkg-deb >/dev/null || { echo "$0: dpkg-deb not found" >&2; exit 1; }
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/share/doc/galmirror"
if [ -z "$BIN" ]; then
	GOOS=linux GOARCH=$ARCH CGO_ENABLED=0 go build -trimpath -buildvcs=false \
		-ldflags "-buildid= -s -w -X main.version=$1" -o "$root/usr/bin/galmirror" ./cmd/galmirror
else
	install -m 0755 "$BIN" "$root/usr/bin/galmirror"
fi
chmod 0755 "$root/usr/bin/galmirror"

# The unit: packaging/systemd's, with the packaged binary and the static
# user (whose group reads /etc/galmirror); the package owns /etc/galmirror.
unit=$root/lib/systemd/system/galmirror.service
sed -e 's#^ExecStart=/usr/local/bin/galmirror #ExecStart=/usr/bin/galmirror #' \
	-e 's#^DynamicUser=yes$#User=galmirror\nGroup=galmirror#' \
	-e '/^ConfigurationDirectory=/d' \
	-e 's#^\# Install: copy the binary.*#\# Installed by the galmirror Debian package; settings come from `galmirror deploy`.#' \
	packaging/systemd/galmirror.service >"$unit"
for want in '^ExecStart=/usr/bin/galmirror run ' '^User=galmirror$' '^Group=galmirror$'; do
	grep -q "$want" "$unit" || { echo "$0: the unit lacks $want (packaging/systemd/galmirror.service changed?)" >&2; exit 1; }
done
if grep -q -e '^DynamicUser=' -e '^ConfigurationDirectory=' "$unit"; then
	echo "$0: the unit still has DynamicUser= or ConfigurationDirectory=" >&2
	exit 1
fi
chmod 0644 "$unit"
install -m 0644 LICENSE "$root/usr/share/doc/galmirror/copyright"

size=$(du -s --apparent-size --block-size=1024 "$root/usr" "$root/lib" | awk '{ s += $1 } END { print s }')
cat >"$root/DEBIAN/control" <<CONTROL
Package: galmirror
Version: $debver
Architecture: $ARCH
Maintainer: galmirror <noreply@galmirror.invalid>
Installed-Size: $size
Depends: passwd
Section: net
Priority: optional
Homepage: https://github.com/galmirror/galmirror
Description: Microsoft 365 directory as managed contacts in every mailbox
 galmirror keeps a Microsoft 365 tenant's Global Address List as a managed
 contact folder in every employee's mailbox, through Microsoft Graph
 app-only, for MSPs running it for many customer tenants.
CONTROL

cat >"$root/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	if ! getent group galmirror >/dev/null; then
		groupadd --system galmirror
	fi
	if ! getent passwd galmirror >/dev/null; then
		useradd --system --gid galmirror --home-dir /var/lib/galmirror --no-create-home \
			--shell /usr/sbin/nologin --comment "galmirror service" galmirror
	fi
	# Settings and certificates: root writes, the service's group reads.
	install -d -m 0750 -o root -g galmirror /etc/galmirror
	chown root:galmirror /etc/galmirror
	chmod 0750 /etc/galmirror
	# The state: the service's alone.
	install -d -m 0700 -o galmirror -g galmirror /var/lib/galmirror
	chown galmirror:galmirror /var/lib/galmirror
	chmod 0700 /var/lib/galmirror
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null || true
		# An upgrade restarts a running service; a first install leaves it
		# to `galmirror deploy`.
		systemctl try-restart galmirror.service >/dev/null || true
	fi
fi
SCRIPT
cat >"$root/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl disable --now galmirror.service >/dev/null 2>&1 || true
fi
SCRIPT
cat >"$root/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
	rm -rf /etc/galmirror /var/lib/galmirror
	if getent passwd galmirror >/dev/null; then
		userdel galmirror
	fi
	if getent group galmirror >/dev/null; then
		groupdel galmirror
	fi
fi
SCRIPT
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
(cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT"
deb="$OUT/galmirror_${VERSION}_$ARCH.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
