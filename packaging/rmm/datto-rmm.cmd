@echo off
rem galmirror for Datto RMM: a Batch component with galmirror.msi attached (it lands beside this
rem script). Component input variables and site variables (GALMIRROR_TENANT_ID, GALMIRROR_CLIENT_ID,
rem GALMIRROR_PFX, GALMIRROR_PFX_PASSWORD, ...) arrive as environment variables; a site value
rem overrides the account's. The agent is 32-bit: the 64-bit Program Files is %ProgramW6432%.
setlocal
if not defined GALMIRROR_MSI set "GALMIRROR_MSI=%~dp0galmirror.msi"
set "PF=%ProgramFiles%"
if defined ProgramW6432 set "PF=%ProgramW6432%"
msiexec /i "%GALMIRROR_MSI%" /qn /norestart /l*v "%ProgramData%\galmirror-msi.log"
set "GALMIRROR_INSTALLER_EXIT_CODE=%ERRORLEVEL%"
if not exist "%PF%\galmirror\galmirror.exe" echo RESULT=FAIL code=1002 step=installer detail=msiexec exit code %GALMIRROR_INSTALLER_EXIT_CODE% & exit /b 1002
"%PF%\galmirror\galmirror.exe" deploy
exit /b %ERRORLEVEL%
