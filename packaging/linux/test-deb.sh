#!/usr/bin/env bash
# Installs, uses, upgrades and purges galmirror's Debian package on this
# machine, as root (CI: .ci/run). It changes the machine: the galmirror
# user, /etc/galmirror, /var/lib/galmirror; a purge at the end removes
# them (and one at the start removes what a failed run left).
#
#   packaging/linux/test-deb.sh DEB
#
# Between install and purge it runs `galmirror deploy` from the installed
# package against `galmirror graphsim` (a tenant, a PFX), checks the modes of
# what deploy wrote, and syncs as the service's user with the service's
# settings and environment file, the way systemd would start it.
set -euo pipefail
DEB=$(realpath "$1")
[ "$(id -u)" = 0 ] || { echo "$0: run as root (it installs a package)" >&2; exit 2; }
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND...
	local what=$1; shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
mode() { stat -c '%a %U:%G' "$1"; }
work=$(mktemp -d)
gs_pid=""
cleanup() {
	[ -n "$gs_pid" ] && kill "$gs_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

dpkg --purge galmirror >/dev/null 2>&1 || true

echo "== install"
dpkg -i "$DEB" >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; exit 1; }
check "galmirror on PATH runs" sh -c '/usr/bin/galmirror version | grep -q "^galmirror "'
check "system user galmirror without a login shell" sh -c 'getent passwd galmirror | grep -q ":/var/lib/galmirror:/usr/sbin/nologin$" && [ "$(id -u galmirror)" -lt 1000 ]'
check "/etc/galmirror 750 root:galmirror" [ "$(mode /etc/galmirror)" = "750 root:galmirror" ]
check "/var/lib/galmirror 700 galmirror:galmirror" [ "$(mode /var/lib/galmirror)" = "700 galmirror:galmirror" ]
unit=/lib/systemd/system/galmirror.service
check "unit runs /usr/bin/galmirror as galmirror" sh -c "grep -q '^ExecStart=/usr/bin/galmirror run --config /etc/galmirror/settings.json$' $unit && grep -q '^User=galmirror$' $unit && ! grep -q '^DynamicUser' $unit"
if command -v systemd-analyze >/dev/null; then
	check "systemd-analyze verify accepts the unit" sh -c "systemd-analyze verify $unit >$work/verify.out 2>&1 || { cat $work/verify.out; false; }"
fi

echo "== deploy from the package, against graphsim"
mkdir -p "$work/gs"
/usr/bin/galmirror graphsim --listen 127.0.0.1:0 --state "$work/gs" --users 4 >"$work/gs.out" 2>&1 &
gs_pid=$!
for _ in $(seq 1 100); do grep -q 'serving on' "$work/gs.out" && break; sleep 0.1; done
json() { sed -n "s/.*\"$1\": \"\\(.*\\)\".*/\\1/p" "$work/gs/client.json"; }
url=$(json authorityHost)
openssl pkcs12 -export -in "$work/gs/app-cert.pem" -inkey "$work/gs/app-key.pem" \
	-out "$work/customer.pfx" -passout pass:Deb-Test-7 2>/dev/null
# The machine trusts graphsim's CA as it would a real CA: the system store
# (a bundle every user reads).
install -d -m 0755 "$work/trust"
install -m 0644 "$work/gs/ca.pem" "$work/trust/ca.pem"
chmod 0755 "$work"
export SSL_CERT_FILE=$work/trust/ca.pem
GALMIRROR_TENANT_ID=$(json tenantId) GALMIRROR_CLIENT_ID=$(json clientId) GALMIRROR_TENANT_NAME=contoso \
	GALMIRROR_CLOUD=custom GALMIRROR_AUTHORITY=$url GALMIRROR_GRAPH=$url \
	GALMIRROR_PFX=$work/customer.pfx GALMIRROR_PFX_PASSWORD=Deb-Test-7 \
	/usr/bin/galmirror deploy >"$work/deploy.out" 2>&1 && rc=0 || rc=$?
result=$(tail -n 1 "$work/deploy.out")
check "deploy: $result" [ "$rc" = 0 ]
[ "$rc" = 0 ] || cat "$work/deploy.out"
check "settings.json 640 root:galmirror" [ "$(mode /etc/galmirror/settings.json)" = "640 root:galmirror" ]
check "contoso.pfx 640 root:galmirror" [ "$(mode /etc/galmirror/contoso.pfx)" = "640 root:galmirror" ]
check "galmirror.env 600 root:root" [ "$(mode /etc/galmirror/galmirror.env)" = "600 root:root" ]
check "the settings' dataDir is /var/lib/galmirror" grep -q '"dataDir": "/var/lib/galmirror"' /etc/galmirror/settings.json
check "no password in the settings or deploy's output" sh -c "! grep -q Deb-Test-7 /etc/galmirror/settings.json $work/deploy.out"

echo "== a sync as the service runs it (user galmirror, the environment file)"
(
	set -a
	. /etc/galmirror/galmirror.env
	set +a
	runuser -u galmirror -- /usr/bin/galmirror sync --config /etc/galmirror/settings.json
) >"$work/sync.out" 2>&1 && rc=0 || rc=$?
check "sync as galmirror: $(tail -n 1 "$work/sync.out")" [ "$rc" = 0 ]
[ "$rc" = 0 ] || cat "$work/sync.out"
check "the state belongs to galmirror" sh -c '[ -n "$(find /var/lib/galmirror -mindepth 1 -user galmirror)" ] && [ -z "$(find /var/lib/galmirror -mindepth 1 ! -user galmirror)" ]'

echo "== reinstall (an upgrade) keeps settings and state"
before=$(sha256sum /etc/galmirror/settings.json)
dpkg -i "$DEB" >"$work/dpkg2.out" 2>&1 || { cat "$work/dpkg2.out"; bad "reinstall"; }
check "settings kept" [ "$(sha256sum /etc/galmirror/settings.json)" = "$before" ]
check "folder modes kept" [ "$(mode /etc/galmirror) $(mode /var/lib/galmirror)" = "750 root:galmirror 700 galmirror:galmirror" ]

echo "== remove keeps settings and state; purge removes everything"
dpkg -r galmirror >/dev/null
check "remove: binary gone, settings and state kept" sh -c '[ ! -e /usr/bin/galmirror ] && [ -e /etc/galmirror/settings.json ] && [ -d /var/lib/galmirror ]'
dpkg --purge galmirror >/dev/null
check "purge: folders, user and group gone" sh -c '[ ! -e /etc/galmirror ] && [ ! -e /var/lib/galmirror ] && ! getent passwd galmirror >/dev/null && ! getent group galmirror >/dev/null'
check "purge: dpkg knows nothing of galmirror" sh -c '! dpkg -s galmirror >/dev/null 2>&1'

echo "== $fails failure(s)"
[ "$fails" = 0 ]
