// Package install holds the scripts that put the agent on a machine:
// install.sh (Linux and macOS: systemd, OpenRC, launchd) and install.ps1
// (Windows). The server embeds them and serves them at /install.sh and
// /install.ps1, so the one-line commands on the enroll page always fetch
// the scripts that match the server's agent binaries.
//
// The scripts download the agent from the server that serves them
// (GET /agent/binary), check it against the SHA-256 the server publishes,
// install it, enroll or announce it and register its service. Their
// options, paths and refusals are documented at the top of each script.
//
// This package only carries files: it must not hold logic the server or the
// agent runs.
package install

import "embed"

// Scripts holds install.sh and install.ps1 at its root. The pattern names
// both without listing them, so the server builds while either is missing.
//
//go:embed install.*
var Scripts embed.FS
