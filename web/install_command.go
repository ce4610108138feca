package web

import (
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
	// this server and enroll in one go; empty without Config.InstallScripts.
	InstallShell      string
	InstallPowerShell string
	Fingerprint       string
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
	cmd := enrollCommands{
		Shell:       "sudo restic-manager-agent enroll" + args + " --config " + agentConfigUnix,
		PowerShell:  "& \"" + agentExeWindows + "\" enroll" + psArgs + " --config \"" + agentConfigWindows + "\"",
		Fingerprint: fp,
	}
	if h.cfg.InstallScripts != nil {
		cmd.InstallShell = "curl -fsSL " + shellQuote(base+"/install.sh") + " | sudo sh -s --" + args
		cmd.InstallPowerShell = "& ([scriptblock]::Create((Invoke-RestMethod " + psQuote(base+"/install.ps1") + ")))" + psArgs
	}
	return cmd
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
