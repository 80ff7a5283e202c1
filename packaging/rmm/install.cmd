@echo off
rem galmirror: install or upgrade the MSI, then set this machine up for one customer.
rem Any RMM, or by hand as SYSTEM/administrator. Everything comes from environment variables
rem (NinjaOne script variables, Datto component and site variables arrive that way):
rem   GALMIRROR_MSI        the MSI: a path or an https URL (default: galmirror.msi beside this script)
rem   and those of `galmirror deploy` (docs/rmm.md): GALMIRROR_SETTINGS, or GALMIRROR_TENANT_ID +
rem   GALMIRROR_CLIENT_ID; GALMIRROR_PFX + GALMIRROR_PFX_PASSWORD, or GALMIRROR_CERT_THUMBPRINT.
rem Prints RESULT=OK|REBOOT|FAIL ... and exits 0, or 1001-1005 (docs/rmm.md#exit-codes).
setlocal
if not defined GALMIRROR_MSI set "GALMIRROR_MSI=%~dp0galmirror.msi"
rem A 32-bit agent (Datto) sees Program Files (x86) as %ProgramFiles%.
set "PF=%ProgramFiles%"
if defined ProgramW6432 set "PF=%ProgramW6432%"
msiexec /i "%GALMIRROR_MSI%" /qn /norestart /l*v "%ProgramData%\galmirror-msi.log"
set "GALMIRROR_INSTALLER_EXIT_CODE=%ERRORLEVEL%"
if not exist "%PF%\galmirror\galmirror.exe" (
  echo RESULT=FAIL code=1002 step=installer detail=msiexec exit code %GALMIRROR_INSTALLER_EXIT_CODE%, see %ProgramData%\galmirror-msi.log
  exit /b 1002
)
"%PF%\galmirror\galmirror.exe" deploy
exit /b %ERRORLEVEL%
