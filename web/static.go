package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// static/ holds the committed build outputs (app.css from assets/app.css,
// vendored HTMX) and the few hand-written files (app.js, favicon.svg).
//
//go:embed static
var staticFiles embed.FS

// staticAsset is one file, loaded and compressed once at start-up.
type staticAsset struct {
	body        []byte
	gzipped     []byte // nil when compressing does not pay
	contentType string
	hash        string // first 12 hex digits of SHA-256: the cache-busting version
}

// staticAssets serves static/ with long-lived caching: page templates link
// to /static/name?v=<hash>, so a new build changes the URL.
type staticAssets struct {
	files map[string]*staticAsset
}

// loadStatic returns static/, read, hashed and compressed on the first call
// of the process: the files are embedded, so every later Server (the tests
// start hundreds in one process) shares the same read-only assets instead
// of compressing them again.
var loadStatic = sync.OnceValues(readStatic)

func readStatic() (*staticAssets, error) {
	s := &staticAssets{files: make(map[string]*staticAsset)}
	err := fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &staticAsset{body: body, hash: hex.EncodeToString(sum[:6]), contentType: mime.TypeByExtension(path.Ext(p))}
		if a.contentType == "" {
			a.contentType = "application/octet-stream"
		}
		if strings.HasPrefix(a.contentType, "text/") || strings.Contains(a.contentType, "javascript") || strings.Contains(a.contentType, "svg") {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			_, _ = zw.Write(body)
			_ = zw.Close()
			if buf.Len() < len(body)*9/10 {
				a.gzipped = buf.Bytes()
			}
		}
		s.files[strings.TrimPrefix(p, "static/")] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: load static files: %w", err)
	}
	return s, nil
}

// url is the versioned URL of a static file; templates call it as "static".
// An unknown name is a programming error that the template tests catch.
func (s *staticAssets) url(name string) (string, error) {
	a, ok := s.files[name]
	if !ok {
		return "", fmt.Errorf("web: no static file %q", name)
	}
	return "/static/" + name + "?v=" + a.hash, nil
}

// serveStatic serves a file from static/. A request carrying the current
// version may be cached for a year; one without it must revalidate.
func (h *handler) serveStatic(c *gin.Context) {
	h.writeAsset(c, strings.TrimPrefix(c.Param("path"), "/"))
}

// serveFavicon answers browsers that ask for /favicon.ico regardless of the
// <link rel=icon> in the page.
func (h *handler) serveFavicon(c *gin.Context) { h.writeAsset(c, "favicon.svg") }

func (h *handler) writeAsset(c *gin.Context, name string) {
	a, ok := h.static.files[name]
	if !ok {
		h.notFound(c)
		return
	}
	etag := `"` + a.hash + `"`
	hd := c.Writer.Header()
	hd.Set("ETag", etag)
	hd.Set("Vary", "Accept-Encoding")
	if c.Query("v") == a.hash {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "public, no-cache")
	}
	if c.GetHeader("If-None-Match") == etag {
		c.Status(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gzipped != nil && strings.Contains(c.GetHeader("Accept-Encoding"), "gzip") {
		hd.Set("Content-Encoding", "gzip")
		body = a.gzipped
	}
	c.Data(http.StatusOK, a.contentType, body)
}
