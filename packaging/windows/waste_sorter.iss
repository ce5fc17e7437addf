; Waste Sorter installer (Inno Setup 6.3 or newer).
;
; Built by packaging\build.py on Windows once PyInstaller has made dist\waste-sorter\
; (see packaging\README.md), which calls:
;
;   iscc /DAppVersion=0.1.0 /DAppFolder=<repo>\dist\waste-sorter /DOutputDir=<repo>\dist
;        [/DAppIcon=<ico>] packaging\windows\waste_sorter.iss
;
; Needs packaging\windows\redist\vc_redist.x64.exe (Microsoft's Visual C++ 2015-2022 x64
; redistributable, not kept in git): ONNX Runtime needs runtime 14.40 or newer, and the app
; folder deliberately carries no MSVC runtime DLLs of its own (see bundle_filter.py).
;
; Installs for all users under Program Files. Each user's history, settings and models stay in
; %LOCALAPPDATA%\waste-sorter, which neither an upgrade nor the uninstaller touches.

#ifndef AppVersion
  #error Pass /DAppVersion=x.y.z (packaging\build.py does)
#endif
#ifndef AppFolder
  #define AppFolder "..\..\dist\waste-sorter"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#define AppName "Waste Sorter"
#define GuiExe "waste-sorter-gui.exe"

[Setup]
; Never change AppId: it is how an upgrade finds the installed copy.
AppId={{8C1E0F4B-2D7A-4E59-9B1C-5A3F6D2E7B10}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Waste Sorter maintainers
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
OutputDir={#OutputDir}
OutputBaseFilename=waste-sorter-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
; The Visual C++ runtime installs machine-wide, so the installer needs administrator rights.
PrivilegesRequired=admin
WizardStyle=modern
UninstallDisplayIcon={app}\{#GuiExe}
UninstallDisplayName={#AppName}
CloseApplications=yes
#ifdef AppIcon
SetupIconFile={#AppIcon}
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"

[InstallDelete]
; An upgrade replaces the program folder wholesale: libraries of the old version must not linger.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#AppFolder}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "redist\vc_redist.x64.exe"; DestDir: "{tmp}"; Flags: deleteafterinstall; Check: VCRedistNeeded

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Comment: "Sort waste with the camera"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Tasks: desktopicon

[Run]
Filename: "{tmp}\vc_redist.x64.exe"; Parameters: "/install /quiet /norestart"; \
  StatusMsg: "Installing the Microsoft Visual C++ runtime..."; Flags: waituntilterminated; \
  Check: VCRedistNeeded
Filename: "{app}\{#GuiExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; \
  Flags: nowait postinstall skipifsilent

[Code]
const
  VCRuntimeKey = 'SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64';

{ True unless a Visual C++ 2015-2022 x64 runtime of version 14.40 or newer is installed. }
function VCRedistNeeded: Boolean;
var
  Installed, Major, Minor: Cardinal;
begin
  Result := True;
  if RegQueryDWordValue(HKLM64, VCRuntimeKey, 'Installed', Installed) and (Installed = 1) and
     RegQueryDWordValue(HKLM64, VCRuntimeKey, 'Major', Major) and
     RegQueryDWordValue(HKLM64, VCRuntimeKey, 'Minor', Minor) then
    Result := (Major < 14) or ((Major = 14) and (Minor < 40));
end;
