@echo off
rem galmirror for NinjaOne (Automation > Library, a Batch script run as System).
rem Script variables arrive as environment variables: name them GALMIRROR_MSI, GALMIRROR_TENANT_ID,
rem GALMIRROR_CLIENT_ID, GALMIRROR_PFX, GALMIRROR_PFX_PASSWORD (a secure variable) ... as in
rem install.cmd; NinjaOne's string variables cannot hold & | ; $ > < ` ! (docs/rmm.md#ninjaone).
setlocal
if not defined GALMIRROR_MSI set "GALMIRROR_MSI=%~dp0galmirror.msi"
set "PF=%ProgramFiles%"
if defined ProgramW6432 set "PF=%ProgramW6432%"
msiexec /i "%GALMIRROR_MSI%" /qn /norestart /l*v "%ProgramData%\galmirror-msi.log"
set "GALMIRROR_INSTALLER_EXIT_CODE=%ERRORLEVEL%"
if not exist "%PF%\galmirror\galmirror.exe" echo RESULT=FAIL code=1002 step=installer detail=msiexec exit code %GALMIRROR_INSTALLER_EXIT_CODE% & exit /b 1002
"%PF%\galmirror\galmirror.exe" deploy
exit /b %ERRORLEVEL%
