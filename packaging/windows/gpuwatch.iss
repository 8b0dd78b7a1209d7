; Inno Setup 6.3+ script: the Windows installer of GPU Watchdog (per-user or all users, Start menu, uninstaller).
; `make package` (packaging\build.py) on Windows runs it when iscc is on PATH, passing the three defines below;
; by hand, from the repository root after the PyInstaller build:
;   iscc /DAppVersion=0.1.0 /DDistDir=%CD%\dist /DIconFile=%CD%\build\icons\gpuwatch.ico packaging\windows\gpuwatch.iss
; -> dist\gpuwatch-0.1.0-windows-x64-setup.exe

#ifndef AppVersion
  #error Pass the version from pyproject.toml: iscc /DAppVersion=X.Y.Z ...
#endif
#ifndef DistDir
  #define DistDir "..\..\dist"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\icons\gpuwatch.ico"
#endif

[Setup]
AppId={{5D0F3C8E-2B7A-4E61-9C4D-8A1F6B2E7C93}
AppName=GPU Watchdog
AppVersion={#AppVersion}
AppVerName=GPU Watchdog {#AppVersion}
AppPublisher=GPU Watchdog contributors
DefaultDirName={autopf}\GPU Watchdog
DefaultGroupName=GPU Watchdog
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#DistDir}
OutputBaseFilename=gpuwatch-{#AppVersion}-windows-x64-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\gpuwatch.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; the one-folder build: gpuwatch.exe (windowed), gpuwatch-cli.exe (console: snapshot, alerts, ask) and _internal\
Source: "{#DistDir}\gpuwatch\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\GPU Watchdog"; Filename: "{app}\gpuwatch.exe"
Name: "{autoprograms}\GPU Watchdog (demo cluster)"; Filename: "{app}\gpuwatch.exe"; Parameters: "--demo"
Name: "{autodesktop}\GPU Watchdog"; Filename: "{app}\gpuwatch.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\gpuwatch.exe"; Description: "{cm:LaunchProgram,GPU Watchdog}"; Flags: nowait postinstall skipifsilent
