package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
)

// Where the agent keeps its configuration by default on each platform
// (agent.DefaultConfigPath; web may not import agent, so the paths are
// repeated here and pinned by a test in cmd/restic-manager).
const (
	agentConfigUnix    = "/etc/restic-manager-agent/agent.yaml"
	agentConfigWindows = `$env:ProgramData\restic-manager-agent\agent.yaml`
	agentExeWindows    = `$env:ProgramFiles\restic-manager-agent\restic-manager-agent.exe`
)

// enrollCommands are the copy-ready one-liners the enroll page, the empty
// dashboard and POST /api/v1/enrollment-tokens hand out. Each carries the
// server URL, the token and the CA fingerprint the agent pins
// (kubeadm-join style): the agent refuses a server whose CA differs, so the
// token cannot be phished by a machine in the middle.
type enrollCommands struct {
	// Shell and PowerShell enroll a machine where the agent is installed.
	Shell      string
	PowerShell string
	// InstallShell and InstallPowerShell download the install script from
	// this server and install, enroll and start the agent in one go; empty
	// without Config.InstallScripts. See installShell for how the first
	// download is made trustworthy.
	InstallShell      string
	InstallPowerShell string
	// InstallVerified: the install one-liners check the script's hash and
	// the script pins the CA (https with the server's CA), see installShell.
	InstallVerified bool
	Fingerprint     string
}

// enrollCommandsFor builds the commands for token at base (the public URL).
func (h *handler) enrollCommandsFor(base, token string) enrollCommands {
	fp := h.cfg.CAFingerprint
	args := " --server " + shellQuote(base) + " --token " + shellQuote(token)
	if fp != "" {
		args += " --ca-fingerprint " + shellQuote(fp)
	}
	psArgs := " --server " + psQuote(base) + " --token " + psQuote(token)
	if fp != "" {
		psArgs += " --ca-fingerprint " + psQuote(fp)
	}
	return enrollCommands{
		Shell:             "sudo restic-manager-agent enroll" + args + " --config " + agentConfigUnix,
		PowerShell:        "& \"" + agentExeWindows + "\" enroll" + psArgs + " --config \"" + agentConfigWindows + "\"",
		InstallShell:      h.installShell(base, args),
		InstallPowerShell: h.installPowerShell(base, token),
		InstallVerified:   h.pinnedHTTPS(base),
		Fingerprint:       fp,
	}
}

// announceCommandsFor builds the install one-liners without a token: the
// machine installs the agent, announces itself and waits until an admin
// accepts it under Pending hosts. Only the install commands are set.
func (h *handler) announceCommandsFor(base string) enrollCommands {
	fp := h.cfg.CAFingerprint
	args := " --server " + shellQuote(base)
	if fp != "" {
		args += " --ca-fingerprint " + shellQuote(fp)
	}
	return enrollCommands{
		InstallShell:      h.installShell(base, args),
		InstallPowerShell: h.installPowerShell(base, ""),
		InstallVerified:   h.pinnedHTTPS(base),
		Fingerprint:       fp,
	}
}

// installShell is the Linux/macOS one-liner; args are install.sh's flags.
//
// Over https with the server's own CA, no machine trusts the server yet, so
// the script is fetched without a TLS check (curl -k) and run only if its
// SHA-256 equals the one printed here: the command was copied from the
// dashboard, which the admin reached over a connection they trust. The
// script then fetches /ca.pem, checks it against --ca-fingerprint and trusts
// only that CA for the agent's index and binary, whose checksums it checks.
// Over plain http nothing can be verified, so the command just pipes the
// script into sh, and the script warns.
func (h *handler) installShell(base, args string) string {
	sum := h.installScriptSum("install.sh")
	switch {
	case sum == "":
		return ""
	case !h.pinnedHTTPS(base):
		return "curl -fsSL " + shellQuote(base+"/install.sh") + " | sudo sh -s --" + args
	}
	return `f=$(mktemp) && curl -fsSk ` + shellQuote(base+"/install.sh") + ` -o "$f" && ` +
		`if [ "$( (sha256sum || shasum -a 256) <"$f" 2>/dev/null | cut -c1-64)" = ` + sum + ` ]; ` +
		`then sudo sh "$f"` + args + `; ` +
		`else echo 'install.sh is not the script this server published: nothing was run' >&2; fi; rm -f "$f"`
}

// installPowerShell is the Windows one-liner, the same design as
// installShell: install.ps1 reads its input from $env:RM_SERVER, RM_TOKEN
// and RM_CA_FINGERPRINT, is downloaded as bytes (the TLS check off for that
// one request when the server has its own CA) and run only if its SHA-256
// matches; it pins the CA itself for everything after.
func (h *handler) installPowerShell(base, token string) string {
	sum := h.installScriptSum("install.ps1")
	if sum == "" {
		return ""
	}
	// RM_TOKEN is always set, empty to announce, so that a token left in the
	// session by an earlier paste is not used again.
	env := "$env:RM_SERVER=" + psString(base) + "; $env:RM_TOKEN=" + psString(token) + "; "
	if h.cfg.CAFingerprint != "" {
		env += "$env:RM_CA_FINGERPRINT=" + psString(h.cfg.CAFingerprint) + "; "
	}
	url := psString(base + "/install.ps1")
	if !h.pinnedHTTPS(base) {
		return env + "& ([scriptblock]::Create((New-Object Net.WebClient).DownloadString(" + url + ")))"
	}
	return env + "[Net.ServicePointManager]::SecurityProtocol='Tls12'; " +
		"[Net.ServicePointManager]::ServerCertificateValidationCallback={$true}; " +
		"$b=(New-Object Net.WebClient).DownloadData(" + url + "); " +
		"[Net.ServicePointManager]::ServerCertificateValidationCallback=$null; " +
		"if ((Get-FileHash -InputStream ([IO.MemoryStream]::new($b)) -Algorithm SHA256).Hash -ne '" + sum + "') " +
		"{ throw 'install.ps1 is not the script this server published: nothing was run' }; " +
		"& ([scriptblock]::Create([Text.Encoding]::UTF8.GetString($b).TrimStart([char]0xFEFF)))"
}

// pinnedHTTPS reports whether base is https and the server has a CA to pin,
// the case where the one-liners check the script by its hash.
func (h *handler) pinnedHTTPS(base string) bool {
	return strings.HasPrefix(base, "https://") && h.cfg.CAFingerprint != ""
}

// installScriptSum is the hex SHA-256 of an install script as served, ""
// when the server does not serve it. The scripts are a few kilobytes and
// read from memory, so it is computed per page rather than remembered.
func (h *handler) installScriptSum(name string) string {
	if h.cfg.InstallScripts == nil {
		return ""
	}
	body, err := fs.ReadFile(h.cfg.InstallScripts, name)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// primary is the single command the API returns as install_command.
func (c enrollCommands) primary() string {
	if c.InstallShell != "" {
		return c.InstallShell
	}
	return c.Shell
}

var (
	shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)
	psSafe    = regexp.MustCompile(`^[A-Za-z0-9_./:+=-]+$`) // no @ or ,: splatting and arrays
)

// shellQuote quotes s for a POSIX shell unless it is plainly safe.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// psString is s as a PowerShell string literal, always quoted: in an
// expression (the right side of an assignment) a bare word is a command.
func psString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// psQuote quotes s for PowerShell unless it is plainly safe.
func psQuote(s string) string {
	if psSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// serveCACert serves the CA certificate agents pin; it is public by nature.
func (h *handler) serveCACert(c *gin.Context) {
	if len(h.cfg.CACertPEM) == 0 {
		h.notFound(c)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="restic-manager-ca.pem"`)
	c.Data(http.StatusOK, "application/x-pem-file", h.cfg.CACertPEM)
}

// serveInstallScript serves install.sh or install.ps1 from Config.InstallScripts.
func (h *handler) serveInstallScript(c *gin.Context) {
	if h.cfg.InstallScripts == nil {
		h.notFound(c)
		return
	}
	name := strings.TrimPrefix(c.Request.URL.Path, "/")
	body, err := fs.ReadFile(h.cfg.InstallScripts, name)
	if err != nil {
		h.notFound(c)
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/plain; charset=utf-8", body)
}
