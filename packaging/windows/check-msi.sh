#!/usr/bin/env bash
# Checks a built MSI with msitools, without Windows: the service (automatic,
# LocalSystem, run --service), the Event Log source, the public properties
# and the actions that configure and purge. CI runs it on the release's MSI.
#
#   packaging/windows/check-msi.sh FILE.msi
set -euo pipefail
msi=$1
fails=0
has() { # has TABLE REGEX WHAT
	if msiinfo export "$msi" "$1" | tr -d '\r' | grep -q -E "$2"; then
		echo "ok   $3"
	else
		echo "FAIL $3: no row of $1 matches $2"
		fails=$((fails + 1))
	fi
}
t=$'\t'
has ServiceInstall "^GalmirrorService${t}galmirror${t}[^$t]*${t}16${t}2${t}1${t}${t}${t}LocalSystem${t}${t}run --service --config \[CommonAppDataFolder\]galmirror\\\\settings.json${t}ServiceExe" \
	"service galmirror: own process, automatic, LocalSystem, run --service --config ...\\settings.json"
has ServiceControl "^GalmirrorServiceControl${t}galmirror${t}162${t}" "service control: stop on install and uninstall, remove on uninstall"
has Registry "SYSTEM\\\\CurrentControlSet\\\\Services\\\\EventLog\\\\Application\\\\galmirror\\\\?${t}EventMessageFile${t}#%%SystemRoot%\\\\System32\\\\EventCreate.exe${t}EventSource" \
	"event source galmirror: EventMessageFile (REG_EXPAND_SZ) EventCreate.exe"
has Registry "EventLog\\\\Application\\\\galmirror\\\\?${t}TypesSupported${t}#7${t}" "event source galmirror: TypesSupported 7"
has Property "^SecureCustomProperties${t}.*;SETTINGSFILE;CERTFILE;CERTPASSWORD;STARTSERVICE;PURGE" \
	"public properties SETTINGSFILE CERTFILE CERTPASSWORD STARTSERVICE PURGE in SecureCustomProperties"
has Property "^MsiHiddenProperties${t}CERTPASSWORD" "CERTPASSWORD hidden from the log"
has CustomAction "^GalmirrorConfigure${t}11282${t}GalmirrorExe${t}deploy " "configure: deferred, as LocalSystem, target hidden, galmirror deploy"
has InstallExecuteSequence "^GalmirrorConfigure${t}NOT REMOVE~=\"ALL\"${t}5801" "configure runs after InstallServices"
has CustomAction "^GalmirrorPurge${t}3154${t}GalmirrorExe${t}service uninstall --purge" "purge: deferred, as LocalSystem, failure ignored"
has InstallExecuteSequence "^GalmirrorPurge${t}REMOVE~=\"ALL\" AND PURGE=\"1\" AND NOT UPGRADINGPRODUCTCODE${t}2001" "purge runs after DeleteServices, never in an upgrade"
has Upgrade "^\{7D814871-1D0E-4891-9F15-30CFB96CAE07\}" "major upgrades by the UpgradeCode"
has File "^GalmirrorExe${t}ServiceExe${t}galmirror.exe${t}" "galmirror.exe"
has Directory "^INSTALLDIR${t}ProgramFiles64Folder${t}galmirror" "installed under Program Files (64-bit)"
msiinfo suminfo "$msi" | grep -q '^Template: x64;1033' && echo "ok   x64 package" || { echo "FAIL not an x64 package"; fails=$((fails + 1)); }
[ "$fails" = 0 ]
