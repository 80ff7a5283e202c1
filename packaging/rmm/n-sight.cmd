@echo off
rem galmirror for N-able N-sight RMM: an Automated Task running this script with the
rem command line  "<MSI>" "<TenantId>" "<ClientId>" "<PFX>" "<PfxPassword>". N-sight reserves exit
rem codes 1-999 and shows the output only above 1000: galmirror deploy fails with 1001-1005.
rem Arguments: MSI (path or https URL), tenant id, client id, PFX path, PFX password (letters,
rem digits and -_. only); the other GALMIRROR_* variables of install.cmd apply too.
setlocal
set "GALMIRROR_MSI=%~1"
set "GALMIRROR_TENANT_ID=%~2"
set "GALMIRROR_CLIENT_ID=%~3"
set "GALMIRROR_PFX=%~4"
set "GALMIRROR_PFX_PASSWORD=%~5"
set "GALMIRROR_REMOVE_PFX=true"
set "PF=%ProgramFiles%"
if defined ProgramW6432 set "PF=%ProgramW6432%"
msiexec /i "%GALMIRROR_MSI%" /qn /norestart /l*v "%ProgramData%\galmirror-msi.log"
set "GALMIRROR_INSTALLER_EXIT_CODE=%ERRORLEVEL%"
if not exist "%PF%\galmirror\galmirror.exe" echo RESULT=FAIL code=1002 step=installer detail=msiexec exit code %GALMIRROR_INSTALLER_EXIT_CODE% & exit /b 1002
"%PF%\galmirror\galmirror.exe" deploy
exit /b %ERRORLEVEL%
