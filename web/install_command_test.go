package web

import (
	"testing"
	"testing/fstest"
)

func TestEnrollCommandsQuoteWhatNeedsIt(t *testing.T) {
	h := &handler{cfg: Config{CAFingerprint: "SHA256:ab12"}}
	got := h.enrollCommandsFor("https://rm.example:8443", "rme_a-b_c")
	if want := "sudo restic-manager-agent enroll --server https://rm.example:8443 --token rme_a-b_c --ca-fingerprint SHA256:ab12 --config /etc/restic-manager-agent/agent.yaml"; got.Shell != want {
		t.Errorf("shell:\n%s\nwant\n%s", got.Shell, want)
	}
	if want := `& "$env:ProgramFiles\restic-manager-agent\restic-manager-agent.exe" enroll --server https://rm.example:8443 --token rme_a-b_c --ca-fingerprint SHA256:ab12 --config "$env:ProgramData\restic-manager-agent\agent.yaml"`; got.PowerShell != want {
		t.Errorf("powershell:\n%s\nwant\n%s", got.PowerShell, want)
	}
	if got.InstallShell != "" || got.primary() != got.Shell {
		t.Error("install commands without install scripts")
	}

	// A URL with shell or PowerShell metacharacters is quoted, not run.
	h.cfg.InstallScripts = fstest.MapFS{}
	got = h.enrollCommandsFor("https://x/$(reboot)'", "t")
	if want := `curl -fsSL 'https://x/$(reboot)'\''/install.sh' | sudo sh -s -- --server 'https://x/$(reboot)'\''' --token t --ca-fingerprint SHA256:ab12`; got.InstallShell != want {
		t.Errorf("install shell:\n%s\nwant\n%s", got.InstallShell, want)
	}
	if want := `& ([scriptblock]::Create((Invoke-RestMethod 'https://x/$(reboot)''/install.ps1'))) --server 'https://x/$(reboot)''' --token t --ca-fingerprint SHA256:ab12`; got.InstallPowerShell != want {
		t.Errorf("install powershell:\n%s\nwant\n%s", got.InstallPowerShell, want)
	}
	if got.primary() != got.InstallShell {
		t.Error("install_command is not the install one-liner when scripts are served")
	}
}
