<#
.SYNOPSIS
Installs, upgrades or removes the restic-manager agent on Windows (PowerShell 5.1 or later).

.DESCRIPTION
Run it in an elevated PowerShell ("Run as administrator"). It downloads the agent for this
machine from the restic-manager server, checks its SHA-256, installs
C:\Program Files\restic-manager-agent\restic-manager-agent.exe, enrolls this machine (with a token)
or announces it (without one: an admin accepts it on the dashboard), writes
C:\ProgramData\restic-manager-agent\agent.yaml readable by SYSTEM and Administrators only, and
installs and starts the restic-manager-agent service (restarted on failure).

Run again on an enrolled machine, it upgrades the agent in place and keeps the config, the
enrollment and the state (journal, outbox). -Uninstall removes the service and the program and
keeps the state unless -Purge is given.

Every input also comes from an environment variable, and the GNU-style flags the server's
one-line command uses (--server URL --token T --ca-fingerprint SHA256:...) work too:
  RM_SERVER          -Server         the server's URL, e.g. https://backup.example.com:8443
  RM_TOKEN           -Token          the one-time enrollment token (without it: announce)
  RM_CA_FINGERPRINT  -CaFingerprint  the server's CA pin, SHA256:... as the dashboard shows it
  RM_INSECURE=1      -Insecure       https without a pin: trust the CAs Windows trusts
  RM_RESTIC          -Restic         the restic.exe the agent runs (default: restic on PATH)
  RM_NO_SERVICE=1    -NoService      install and enroll only; do not install the service

The scheduled tasks named like *restic* are listed, never changed: once restic-manager's
schedules run, disable the old ones yourself if they back up the same data.

.EXAMPLE
$env:RM_SERVER='https://backup.example.com:8443'; $env:RM_TOKEN='rme_...'; $env:RM_CA_FINGERPRINT='SHA256:...'; .\install.ps1
#>
[CmdletBinding(PositionalBinding = $false)]
param(
    [string]$Server = '',
    [string]$Token = '',
    [string]$CaFingerprint = '',
    [string]$Restic = '',
    [switch]$Insecure,
    [switch]$NoService,
    [switch]$Uninstall,
    [switch]$Purge,
    # GNU-style flags (--server URL ...) as the dashboard's one-line command passes them.
    [Parameter(ValueFromRemainingArguments = $true)]
    [string[]]$FlagArgs = @()
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$ServiceName = 'restic-manager-agent'
# The agent's own defaults (agent.DefaultConfigPath, DefaultStateDir), so that every
# restic-manager-agent subcommand finds the config without --config.
$InstallDir = Join-Path $env:ProgramFiles 'restic-manager-agent'
$AgentExe = Join-Path $InstallDir 'restic-manager-agent.exe'
$DataDir = Join-Path $env:ProgramData 'restic-manager-agent'
$ConfigPath = Join-Path $DataDir 'agent.yaml'
# Well-known SIDs, so the ACL is right on Windows in any language.
$SidSystem = '*S-1-5-18'
$SidAdministrators = '*S-1-5-32-544'

# Stop-Install ends the script with one sentence that says what to do. It throws rather
# than exits: pasted into a PowerShell window, exit would close the window.
function Stop-Install([string]$Message) {
    throw "restic-manager install: $Message"
}

function Write-Step([string]$Message) {
    Write-Host "==> $Message"
}

# Read-Flags returns the GNU-style flags as a hashtable (name without dashes -> value,
# $true for the switches); the caller assigns them, so no scope modifier is needed.
function Read-Flags([string[]]$List) {
    $flags = @{}
    $i = 0
    while ($i -lt $List.Count) {
        $arg = $List[$i]
        $name = $arg
        $value = $null
        if ($arg -match '^--([a-z-]+)=(.*)$') {
            $name = '--' + $Matches[1]
            $value = $Matches[2]
        }
        if ($name -in '--server', '--token', '--ca-fingerprint', '--restic') {
            if ($null -eq $value) {
                if ($i + 1 -ge $List.Count) { Stop-Install "$name needs a value, e.g. $name VALUE" }
                $i++
                $value = $List[$i]
            }
            $flags[$name.Substring(2)] = $value
        } elseif ($name -in '--insecure', '--no-service', '--uninstall', '--purge') {
            $flags[$name.Substring(2)] = $true
        } else {
            Stop-Install "unknown argument '$arg': use -Server, -Token, -CaFingerprint, -Restic, -Insecure, -NoService, -Uninstall or -Purge"
        }
        $i++
    }
    return $flags
}

function Test-Administrator {
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object Security.Principal.WindowsPrincipal($identity)
    return $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
}

# RmInstallHttp downloads over HTTPS with the server's CA pinned. The pin is checked by
# this compiled callback, not by a script block (a script block may run on a thread
# without a runspace). Without a pin it trusts Windows' roots, like a browser.
$HttpSource = @'
using System;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

public static class RmInstallHttp {
    // Pinned is the server's CA once its fingerprint matched the pin.
    public static X509Certificate2 Pinned;
    // AcceptAny is set only while /ca.pem is fetched: its content is checked against the pin.
    public static bool AcceptAny;
    public static string Refusal;

    // Fingerprint is what the server prints: "SHA256:" and the unpadded base64 of SHA-256 over the DER.
    public static string Fingerprint(byte[] der) {
        using (SHA256 h = SHA256.Create()) {
            return "SHA256:" + Convert.ToBase64String(h.ComputeHash(der)).TrimEnd('=');
        }
    }

    public static bool Validate(object sender, X509Certificate cert, X509Chain chain, SslPolicyErrors errors) {
        Refusal = null;
        if (AcceptAny) { return true; }
        if (Pinned == null) {
            if (errors != SslPolicyErrors.None) { Refusal = "the server's certificate is not trusted by Windows (" + errors + ")"; }
            return errors == SslPolicyErrors.None;
        }
        if (cert == null) { Refusal = "the server presented no certificate"; return false; }
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) {
            Refusal = "the server's certificate is not for this address";
            return false;
        }
        using (X509Chain c = new X509Chain()) {
            c.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            c.ChainPolicy.VerificationFlags = X509VerificationFlags.AllowUnknownCertificateAuthority;
            c.ChainPolicy.ExtraStore.Add(Pinned);
            if (!c.Build(new X509Certificate2(cert))) {
                Refusal = "the server's certificate does not chain to the pinned CA";
                return false;
            }
            X509Certificate2 root = c.ChainElements[c.ChainElements.Count - 1].Certificate;
            if (Fingerprint(root.RawData) != Fingerprint(Pinned.RawData)) {
                Refusal = "the server's certificate is not issued by the pinned CA";
                return false;
            }
        }
        return true;
    }

    // Get answers every status (an error status is a response too); it follows no redirect.
    public static HttpWebResponse Get(string url) {
        HttpWebRequest req = (HttpWebRequest)WebRequest.Create(url);
        req.ServerCertificateValidationCallback = Validate;
        req.AllowAutoRedirect = false;
        // A connection opened while AcceptAny was set must never carry a later request.
        req.KeepAlive = false;
        req.ConnectionGroupName = AcceptAny ? "ca-pem" : "pinned";
        req.Timeout = 60000;
        req.ReadWriteTimeout = 300000;
        req.UserAgent = "restic-manager-install.ps1";
        try {
            return (HttpWebResponse)req.GetResponse();
        } catch (WebException e) {
            if (e.Response != null) { return (HttpWebResponse)e.Response; }
            throw;
        }
    }

    public static string ReadText(HttpWebResponse resp, int limit) {
        using (StreamReader r = new StreamReader(resp.GetResponseStream())) {
            char[] buf = new char[limit];
            int n = r.ReadBlock(buf, 0, limit);
            return new string(buf, 0, n);
        }
    }

    public static void SaveTo(HttpWebResponse resp, string path) {
        using (Stream s = resp.GetResponseStream())
        using (FileStream f = new FileStream(path, FileMode.Create, FileAccess.Write)) {
            s.CopyTo(f);
        }
    }
}
'@

function Invoke-ServerGet([string]$Url) {
    try {
        return [RmInstallHttp]::Get($Url)
    } catch {
        $why = [RmInstallHttp]::Refusal
        if ($why) { Stop-Install "refused $Url`: $why. Check -CaFingerprint against the dashboard's enroll page." }
        Stop-Install "cannot reach $Url ($($_.Exception.GetBaseException().Message)): check -Server and that this machine reaches the server."
    }
}

function Get-ServerMessage($Response) {
    $text = [RmInstallHttp]::ReadText($Response, 400)
    if ($text -match '"message"\s*:\s*"([^"]*)"') { return $Matches[1] }
    return ($text -replace '\s+', ' ').Trim()
}

# Connect-Pinned fetches /ca.pem without a TLS check, checks that it hashes to the pin and
# then trusts only it for every later request, as install.sh does.
function Connect-Pinned([string]$Base, [string]$Pin) {
    $Pin = $Pin.Trim().TrimEnd('=')
    if ($Pin -notmatch '^SHA256:[A-Za-z0-9+/]{43}$') {
        Stop-Install "RM_CA_FINGERPRINT '$Pin' is not SHA256: followed by 43 base64 characters: copy it again from the dashboard's enroll page."
    }
    [RmInstallHttp]::AcceptAny = $true
    try {
        $resp = Invoke-ServerGet "$Base/ca.pem"
        if ([int]$resp.StatusCode -ne 200) { Stop-Install "$Base/ca.pem answered $([int]$resp.StatusCode): is $Base a restic-manager server?" }
        $pem = [RmInstallHttp]::ReadText($resp, 65536)
        $resp.Close()
    } finally {
        [RmInstallHttp]::AcceptAny = $false
    }
    $blocks = [regex]::Matches($pem, '-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----')
    if ($blocks.Count -ne 1) { Stop-Install "$Base/ca.pem does not hold exactly one certificate." }
    $der = [Convert]::FromBase64String(($blocks[0].Groups[1].Value -replace '\s', ''))
    $ca = [Security.Cryptography.X509Certificates.X509Certificate2]::new($der)
    $got = [RmInstallHttp]::Fingerprint($ca.RawData)
    if ($got -cne $Pin) {
        Stop-Install "the server at $Base presents a CA with fingerprint $got, not RM_CA_FINGERPRINT=$Pin`: nothing was installed. Copy the command again from the enroll page; if it still fails, something between this machine and the server is answering in its place."
    }
    Write-Step "the server's CA matches $Pin"
    [RmInstallHttp]::Pinned = $ca
    return $Pin
}

function Get-AgentArch {
    $arch = $env:PROCESSOR_ARCHITECTURE
    if ($env:PROCESSOR_ARCHITEW6432) { $arch = $env:PROCESSOR_ARCHITEW6432 }
    switch ($arch) {
        'AMD64' { return 'amd64' }
        'ARM64' { return 'arm64' }
        default { Stop-Install "this machine's architecture ($arch) is not supported: the agent runs on 64-bit Windows (amd64, arm64)." }
    }
}

# Get-IndexSum returns the SHA-256 the server's index (/agent/binaries) lists for
# windows/$Arch, or '' when it has no such agent.
function Get-IndexSum([string]$Base, [string]$Arch) {
    $resp = Invoke-ServerGet "$Base/agent/binaries"
    if ([int]$resp.StatusCode -ne 200) { Stop-Install "the server answered $([int]$resp.StatusCode) for $Base/agent/binaries: $(Get-ServerMessage $resp)" }
    $index = [RmInstallHttp]::ReadText($resp, 1048576) | ConvertFrom-Json
    $resp.Close()
    # {"binaries": [{"os", "arch", "version", "sha256", "size"}, ...]}
    foreach ($entry in @($index.binaries)) {
        if ($entry.os -eq 'windows' -and $entry.arch -eq $Arch) { return [string]$entry.sha256 }
    }
    return ''
}

# Get-Agent downloads the agent to $Path and checks its SHA-256 against both the
# download's X-Checksum-Sha256 header and the server's index.
function Get-Agent([string]$Base, [string]$Arch, [string]$Path) {
    $indexSum = Get-IndexSum $Base $Arch
    if (-not $indexSum -and $Arch -eq 'arm64') {
        Write-Warning 'the server has no windows/arm64 agent; installing the amd64 one, which Windows on ARM runs emulated.'
        $Arch = 'amd64'
        $indexSum = Get-IndexSum $Base $Arch
    }
    if (-not $indexSum) { Stop-Install "the server has no agent for windows/$Arch`: ask its admin to build it (make agents)." }
    $url = "$Base/agent/binary?os=windows&arch=$Arch"
    $resp = Invoke-ServerGet $url
    if ([int]$resp.StatusCode -ne 200) {
        $msg = Get-ServerMessage $resp
        Stop-Install "the server answered $([int]$resp.StatusCode) for $url`: $msg"
    }
    $want = $resp.Headers['X-Checksum-Sha256']
    if (-not $want) { $resp.Close(); Stop-Install "the server sent the agent without an X-Checksum-Sha256 header: upgrade the server." }
    try { [RmInstallHttp]::SaveTo($resp, $Path) } finally { $resp.Close() }
    $version = $resp.Headers['X-Agent-Version']
    $got = (Get-FileHash -Algorithm SHA256 -LiteralPath $Path).Hash.ToLowerInvariant()
    if ($got -ne $want.Trim().ToLowerInvariant() -or $got -ne $indexSum.ToLowerInvariant()) {
        Remove-Item -LiteralPath $Path -Force
        Stop-Install "checksum mismatch: the downloaded agent hashes to $got, the server published $want (download) and $indexSum (index). Nothing was installed; run me again, and if it persists something between this machine and the server alters downloads."
    }
    Write-Step "downloaded the agent $version for windows/$Arch (sha256 $got)"
}

# Read-ConfigValue reads one top-level scalar of agent.yaml (server_url, ca_fingerprint).
function Read-ConfigValue([string]$Name) {
    foreach ($line in Get-Content -LiteralPath $ConfigPath) {
        if ($line -match "^$Name\s*:\s*(.*?)\s*$") {
            return $Matches[1].Trim("'", '"')
        }
    }
    return ''
}

function Protect-Data([string]$Path, [bool]$Directory) {
    $grant = @("$($SidSystem):F", "$($SidAdministrators):F")
    if ($Directory) { $grant = @("$($SidSystem):(OI)(CI)F", "$($SidAdministrators):(OI)(CI)F") }
    $out = & icacls.exe $Path /inheritance:r /grant:r $grant[0] $grant[1]
    if ($LASTEXITCODE -ne 0) { Stop-Install "icacls could not restrict $Path to SYSTEM and Administrators: $out" }
}

function Get-AgentService {
    return Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
}

function Invoke-Agent([string[]]$Arguments) {
    # The agent logs to stderr; under 'Stop', Windows PowerShell would turn a redirected
    # native stderr line into a terminating error. Its exit code decides instead.
    $ErrorActionPreference = 'Continue'
    & $AgentExe @Arguments
    if ($LASTEXITCODE -ne 0) { Stop-Install "restic-manager-agent $($Arguments[0]) failed (exit $LASTEXITCODE); see its message above." }
}

function Install-AgentExe([string]$Downloaded) {
    $svc = Get-AgentService
    if ($svc -and $svc.Status -ne 'Stopped') {
        Write-Step "stopping the service to replace the agent (a running backup is stopped gracefully and reported interrupted)"
        Stop-Service -Name $ServiceName
    }
    # The old binary may stay locked for a moment after the service stopped.
    $deadline = (Get-Date).AddSeconds(60)
    while ($true) {
        try {
            Move-Item -LiteralPath $Downloaded -Destination $AgentExe -Force
            break
        } catch {
            if ((Get-Date) -gt $deadline) { Stop-Install "cannot replace $AgentExe ($($_.Exception.Message)): is another restic-manager-agent running?" }
            Start-Sleep -Milliseconds 500
        }
    }
    Write-Step "installed $AgentExe ($(& $AgentExe version))"
}

# Join-Arguments quotes arguments for Start-Process, which joins them with spaces as they are.
function Join-Arguments([string[]]$List) {
    $quoted = foreach ($a in $List) {
        if ($a -match '[\s"]' -or $a -eq '') { '"' + ($a -replace '"', '\"') + '"' } else { $a }
    }
    return $quoted -join ' '
}

# Invoke-Announce runs `announce` until an admin accepts this machine (the agent writes the
# config and prints "accepted as"), showing its banner, then stops it: the service runs it.
function Invoke-Announce([string[]]$Arguments) {
    $out = Join-Path $DataDir 'announce.out.log'
    $err = Join-Path $DataDir 'announce.err.log'
    $proc = Start-Process -FilePath $AgentExe -ArgumentList (Join-Arguments $Arguments) -NoNewWindow -PassThru `
        -RedirectStandardOutput $out -RedirectStandardError $err
    $null = $proc.Handle # without it, Windows PowerShell never learns the exit code
    Write-Step 'announcing this machine: accept it under Pending hosts on the dashboard (Ctrl+C to give up)'
    $shown = @{ $out = 0; $err = 0 }
    $accepted = $false
    try {
        while (-not $accepted) {
            foreach ($file in @($out, $err)) {
                if (-not (Test-Path -LiteralPath $file)) { continue }
                try { $lines = @(Get-Content -LiteralPath $file) } catch { continue }
                for ($n = $shown[$file]; $n -lt $lines.Count; $n++) {
                    Write-Host $lines[$n]
                    if ($file -eq $out -and $lines[$n] -like 'accepted as *') { $accepted = $true }
                }
                $shown[$file] = $lines.Count
            }
            if (-not $accepted -and $proc.HasExited) {
                Stop-Install "announce ended (exit $($proc.ExitCode)) before an admin accepted this machine; see its output above."
            }
            Start-Sleep -Milliseconds 500
        }
    } finally {
        if (-not $proc.HasExited) { Stop-Process -Id $proc.Id -Force }
        $proc.WaitForExit()
        Remove-Item -LiteralPath $out, $err -Force -ErrorAction SilentlyContinue
    }
}

function Show-ResticTasks {
    $tasks = @(Get-ScheduledTask -ErrorAction SilentlyContinue | Where-Object TaskName -like '*restic*')
    if ($tasks.Count -eq 0) { return }
    Write-Host ''
    Write-Host "Scheduled tasks that look like restic backups (left as they are; this script changes none):" -ForegroundColor Yellow
    foreach ($t in $tasks) {
        # Only exec actions have a command line (a COM handler action has none).
        $actions = @($t.Actions | Where-Object { $_.PSObject.Properties['Execute'] } |
                ForEach-Object { "$($_.Execute) $($_.Arguments)".Trim() }) -join '; '
        Write-Host ("  {0}{1}  [{2}]  {3}" -f $t.TaskPath, $t.TaskName, $t.State, $actions)
    }
    Write-Host "  Once restic-manager's schedules back up the same data, disable these yourself (Task Scheduler)."
}

function Show-ResticHelp {
    if ($Restic) {
        if (Test-Path -LiteralPath $Restic -PathType Leaf) { Write-Step "restic: $Restic"; return }
        Write-Warning "restic was given as $Restic, but there is no such file."
    } else {
        $found = Get-Command restic -ErrorAction SilentlyContinue
        if ($found) {
            Write-Step "restic: $($found.Source) (the service runs as SYSTEM: it must be on the machine's PATH, not only yours)"
            return
        }
        Write-Warning 'restic is not on PATH: the agent cannot run backups until it is.'
    }
    Write-Host '  Get restic with one of:'
    Write-Host '    winget install --scope machine restic.restic'
    Write-Host '    scoop install --global restic'
    Write-Host '    choco install restic'
    Write-Host "  or download restic.exe and set restic_binary: C:\path\to\restic.exe in $ConfigPath,"
    Write-Host "  then Restart-Service $ServiceName (a first install also takes -Restic C:\path\to\restic.exe)."
}

function Uninstall-Agent {
    $svc = Get-AgentService
    if ($svc) {
        if ($svc.Status -ne 'Stopped') {
            Write-Step 'stopping the service (a running backup is stopped gracefully)'
            Stop-Service -Name $ServiceName
        }
        if (Test-Path -LiteralPath $AgentExe) {
            Invoke-Agent @('uninstall', '--config', $ConfigPath)
        } else {
            & sc.exe delete $ServiceName | Out-Null
        }
    }
    if (Test-Path -LiteralPath $InstallDir) { Remove-Item -LiteralPath $InstallDir -Recurse -Force }
    Write-Step "removed the service and $InstallDir"
    if ($Purge) {
        if (Test-Path -LiteralPath $DataDir) { Remove-Item -LiteralPath $DataDir -Recurse -Force }
        Write-Step "removed $DataDir (config, enrollment, state): remove the host on the dashboard too"
    } else {
        Write-Step "kept $DataDir (config, enrollment, state); -Purge removes it"
    }
    Show-ResticTasks
}

# --- main -----------------------------------------------------------------------------

$flags = Read-Flags $FlagArgs
if ($flags.ContainsKey('server')) { $Server = $flags['server'] }
if ($flags.ContainsKey('token')) { $Token = $flags['token'] }
if ($flags.ContainsKey('ca-fingerprint')) { $CaFingerprint = $flags['ca-fingerprint'] }
if ($flags.ContainsKey('restic')) { $Restic = $flags['restic'] }
if ($flags.ContainsKey('insecure')) { $Insecure = $true }
if ($flags.ContainsKey('no-service')) { $NoService = $true }
if ($flags.ContainsKey('uninstall')) { $Uninstall = $true }
if ($flags.ContainsKey('purge')) { $Purge = $true }
if (-not $Server) { $Server = [string]$env:RM_SERVER }
if (-not $Token) { $Token = [string]$env:RM_TOKEN }
if (-not $CaFingerprint) { $CaFingerprint = [string]$env:RM_CA_FINGERPRINT }
if (-not $Restic) { $Restic = [string]$env:RM_RESTIC }
if ($env:RM_INSECURE -eq '1') { $Insecure = $true }
if ($env:RM_NO_SERVICE -eq '1') { $NoService = $true }
# No child process (restic, hooks) may inherit the token.
Remove-Item Env:\RM_TOKEN -ErrorAction SilentlyContinue

if (-not (Test-Administrator)) {
    Stop-Install 'run this in an elevated PowerShell (right-click PowerShell, "Run as administrator"): installing a service and writing to Program Files needs Administrator rights.'
}
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

if ($Uninstall) {
    Uninstall-Agent
    return
}

$upgrade = Test-Path -LiteralPath $ConfigPath
if ($upgrade) {
    if (-not $Server) { $Server = Read-ConfigValue 'server_url' }
    if (-not $CaFingerprint) { $CaFingerprint = Read-ConfigValue 'ca_fingerprint' }
    if ($Token) { Write-Warning "this machine is already enrolled ($ConfigPath): upgrading in place, the token is not used. To enroll it anew, run with -Uninstall -Purge first." }
}
if (-not $Server) { Stop-Install 'RM_SERVER is required: the server URL, e.g. $env:RM_SERVER=''https://backup.example.com:8443'' (or -Server URL).' }
$Server = $Server.TrimEnd('/')
if ($Server -notmatch '^https?://[^/\s]+') { Stop-Install "RM_SERVER '$Server' is not an http(s) URL: use e.g. https://backup.example.com:8443" }

if (-not ('RmInstallHttp' -as [type])) { Add-Type -TypeDefinition $HttpSource -Language CSharp }
if ($Server -like 'https://*') {
    if ($CaFingerprint) {
        $CaFingerprint = Connect-Pinned $Server $CaFingerprint
    } elseif ($Insecure) {
        Write-Warning "RM_INSECURE=1: no CA pin; trusting the certificate authorities Windows trusts for $Server."
    } else {
        Stop-Install 'an https server needs RM_CA_FINGERPRINT (-CaFingerprint), the SHA256:... shown next to the install command; RM_INSECURE=1 trusts the CAs Windows trusts instead.'
    }
} else {
    Write-Warning "$Server is plain http: the download and the token travel unencrypted. Use https outside a trusted network."
}

New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
Protect-Data $DataDir $true
$arch = Get-AgentArch
# Downloaded next to its place, so that the rename over the old binary stays on one volume.
New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
$download = Join-Path $InstallDir ("restic-manager-agent.download-{0}.exe" -f ([guid]::NewGuid().ToString('N')))
try {
    Get-Agent $Server $arch $download
    Install-AgentExe $download
} finally {
    Remove-Item -LiteralPath $download -Force -ErrorAction SilentlyContinue
}

if ($upgrade) {
    Write-Step "upgrade: kept $ConfigPath and the state in $DataDir"
} else {
    $agentArgs = @('--server', $Server, '--config', $ConfigPath, '--state-dir', $DataDir)
    if ($CaFingerprint) { $agentArgs += @('--ca-fingerprint', $CaFingerprint) }
    if ($Restic) { $agentArgs += @('--restic', $Restic) }
    if ($Token) {
        # The token goes through the environment, not the command line other users can read.
        $env:RM_ENROLL_TOKEN = $Token
        try { Invoke-Agent (@('enroll') + $agentArgs) } finally { Remove-Item Env:\RM_ENROLL_TOKEN -ErrorAction SilentlyContinue }
    } else {
        Invoke-Announce (@('announce') + $agentArgs)
    }
}
if (-not (Test-Path -LiteralPath $ConfigPath)) { Stop-Install "the agent wrote no config at $ConfigPath; see its messages above." }
Protect-Data $ConfigPath $false
Write-Step "$ConfigPath is readable by SYSTEM and Administrators only"

if ($NoService) {
    Write-Step "no service (RM_NO_SERVICE): run the agent with: & '$AgentExe' run --config '$ConfigPath'"
} else {
    if (-not (Get-AgentService)) {
        Invoke-Agent @('install', '--config', $ConfigPath)
    }
    $out = & sc.exe failure $ServiceName reset= 86400 actions= restart/60000/restart/60000/restart/60000
    if ($LASTEXITCODE -ne 0) { Write-Warning "could not set the service's restart-on-failure: $out" }
    if ((Get-AgentService).Status -ne 'Running') {
        Invoke-Agent @('start', '--config', $ConfigPath)
    }
    Write-Step "service $ServiceName is $((Get-AgentService).Status.ToString().ToLower()); its messages are in the Event Log (Windows Logs > Application, source $ServiceName)"
}

Show-ResticHelp
Show-ResticTasks
Write-Host ''
Write-Host 'restic-manager agent installed. The machine shows up on the dashboard once it connects.' -ForegroundColor Green
