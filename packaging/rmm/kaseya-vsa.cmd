@echo off
rem galmirror for Kaseya VSA: an agent procedure runs
rem   Execute Shell Command: "#vAgentTempDir#\kaseya-vsa.cmd" "<MSI>" "<TenantId>" "<ClientId>" "<PFX>" "<PfxPassword>"
rem with the managed variables of the customer's machine group (Variable Manager) in <...>; the
rem procedure writes the MSI and PFX to the machine first (writeFile).
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
