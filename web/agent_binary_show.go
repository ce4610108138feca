package web

import (
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/restic-manager/restic-manager/server"
)

// showAgentBinary answers GET /agent/binary?os=OS&arch=ARCH with the agent
// build for that platform. X-Checksum-Sha256 carries the SHA-256 of exactly
// the bytes sent and X-Agent-Version the version they were built as; Range
// requests work, so an interrupted download can resume. A platform this
// server has no build for is a 404 that lists the ones it has.
func (h *handler) showAgentBinary(c *gin.Context) {
	goos, arch := c.Query("os"), c.Query("arch")
	if h.cfg.AgentBinaries == nil {
		h.noAgentBinary(c, goos, arch)
		return
	}
	f, bin, err := h.cfg.AgentBinaries.Open(goos, arch)
	if errors.Is(err, fs.ErrNotExist) {
		h.noAgentBinary(c, goos, arch)
		return
	}
	if err != nil {
		h.apiError(c, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		h.apiError(c, err)
		return
	}
	name := agentBinaryName(goos, arch)
	c.Header("X-Checksum-Sha256", bin.SHA256)
	c.Header("X-Agent-Version", bin.Version)
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-cache")
	http.ServeContent(c.Writer, c.Request, name, fi.ModTime(), f)
}

// noAgentBinary is the 404 for a platform without a build: it names the
// platforms there are, or says there are none and how the admin adds them.
func (h *handler) noAgentBinary(c *gin.Context, goos, arch string) {
	var have []string
	if h.cfg.AgentBinaries != nil {
		list, err := h.cfg.AgentBinaries.List()
		if err != nil {
			h.apiError(c, err)
			return
		}
		for _, b := range list {
			have = append(have, b.Platform())
		}
	}
	var msg string
	switch {
	case len(have) == 0:
		msg = "This server has no agent binaries to hand out; its admin builds them with `make agents` and points the server at them with --agents-dir."
	case goos == "" || arch == "":
		msg = "Say which agent binary you need, e.g. ?os=linux&arch=amd64; this server has " + strings.Join(have, ", ") + "."
	default:
		msg = "This server has no agent binary for " + strconv.Quote(clipQuery(goos)+"/"+clipQuery(arch)) + "; it has " + strings.Join(have, ", ") + "."
	}
	h.apiFail(c, http.StatusNotFound, server.CodeNotFound, msg)
}

// clipQuery keeps a query value short and printable for an error message.
func clipQuery(s string) string {
	if len(s) > 20 {
		s = s[:20]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
