package topics

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Downloads (#14): a file or folder of a snapshot, streamed from the agent
// (`restic dump`) through the server to a browser. The request goes over
// MQTT as a query with op dump (query.go): the snapshot, the path, the
// format and a one-time upload token. The agent answers it with a Reply
// carrying DumpStart (what it found: a file and its size, or a folder) or
// an error, and then POSTs the bytes to the server over HTTPS at
// DumpUploadPath(token), authenticated as the host (HTTP basic auth: host
// id and MQTT password) and by the token, which the server issued for
// that host, snapshot, path and format only, and accepts once.
//
// The body is restic's output (a folder's tar gzip-compressed by the agent
// for tar.gz), sent chunked, and ends with an HTTP trailer (DumpTrailer):
// status ok with the byte count and SHA-256 of the body, or failed with a
// sentence. A body without an ok trailer that matches it is a broken
// stream, never a complete download.

// DumpFormat is how a download is packed.
type DumpFormat string

// The download formats. A file comes as itself whatever the format (the
// format is for folders); a folder asked for as DumpAsIs comes as tar.gz.
const (
	DumpAsIs  DumpFormat = ""
	DumpTarGz DumpFormat = "tar.gz"
	DumpZip   DumpFormat = "zip"
)

// DumpFormats are the formats a download may ask for, as written.
var DumpFormats = []DumpFormat{DumpAsIs, DumpTarGz, DumpZip}

// CheckDumpFormat checks a download format from outside.
func CheckDumpFormat(f DumpFormat) error {
	switch f {
	case DumpAsIs, DumpTarGz, DumpZip:
		return nil
	}
	return fmt.Errorf("format %q is not one of tar.gz or zip (leave it out for a single file)", clip(string(f)))
}

// FolderFormat is the archive a folder is packed in when f is asked for.
func (f DumpFormat) FolderFormat() DumpFormat {
	if f == DumpAsIs {
		return DumpTarGz
	}
	return f
}

// restic releases a download needs: `dump --archive zip` came with 0.12.0,
// the SNAPSHOT:SUBFOLDER syntax that puts a folder's archive under its own
// name (not its whole path) with 0.16.0.
const (
	DumpZipMinRestic    = "0.12.0"
	DumpRerootMinRestic = "0.16.0"
)

// CheckDumpSupport says in one sentence why a host whose restic has this
// version cannot pack a folder in f, or nil when it can.
func CheckDumpSupport(f DumpFormat, resticVersion string) error {
	if f != DumpZip || ResticAtLeast(resticVersion, DumpZipMinRestic) {
		return nil
	}
	have := "an unknown version"
	if resticVersion != "" {
		have = "version " + clip(resticVersion)
	}
	return fmt.Errorf("this host's restic (%s) cannot write zip archives: restic %s or newer can, so download the folder as tar.gz or upgrade restic on the host",
		have, DumpZipMinRestic)
}

// ResticAtLeast reports whether a restic of version (as `restic version`
// prints it: "0.18.1", "0.16.0-dev") is release min ("0.12.0") or newer.
// An empty or unreadable version is not: nothing is known of it.
func ResticAtLeast(version, min string) bool {
	major, minor, ok := resticMajorMinor(version)
	wantMajor, wantMinor, _ := resticMajorMinor(min)
	return ok && (major > wantMajor || major == wantMajor && minor >= wantMinor)
}

// Upload tokens: "rmd_" and 43 base64url characters (256 random bits).
const (
	DumpTokenPrefix = "rmd_"
	dumpTokenLen    = len(DumpTokenPrefix) + 43
	// DumpUploadPrefix is the path an upload is POSTed to, before the
	// token; DumpUploadPath builds the whole path.
	DumpUploadPrefix = "/agent/v1/uploads/"
)

// ValidDumpToken reports whether t has the form of an upload token.
func ValidDumpToken(t string) bool {
	if len(t) != dumpTokenLen || !strings.HasPrefix(t, DumpTokenPrefix) {
		return false
	}
	for _, c := range []byte(t[len(DumpTokenPrefix):]) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// DumpUploadPath is the server path an agent POSTs the download with
// token to, relative to its server URL.
func DumpUploadPath(token string) string { return DumpUploadPrefix + token }

// CheckDumpRequest checks what a download asks for: a snapshot reference,
// an absolute path in the snapshot (CheckBrowsePath's rule) and a format.
func CheckDumpRequest(snapshot, path string, format DumpFormat) error {
	if err := CheckSnapshotRef(snapshot); err != nil {
		return err
	}
	if err := CheckBrowsePath(path); err != nil {
		return err
	}
	return CheckDumpFormat(format)
}

// Kinds of what a download found at its path.
const (
	DumpKindFile = "file"
	DumpKindDir  = "dir"
)

// DumpStart is the agent's answer to a dump query once it has found the
// path and starts the upload: a file with its size, or a folder with the
// archive format it packs it in.
type DumpStart struct {
	Kind string `json:"kind"`
	// Size is a file's size in bytes (the download's Content-Length).
	Size uint64 `json:"size,omitempty"`
	// Format is the archive a folder comes in (tar.gz or zip); empty for
	// a file.
	Format DumpFormat `json:"format,omitempty"`
}

// Validate checks a DumpStart.
func (d *DumpStart) Validate() error {
	switch d.Kind {
	case DumpKindFile:
		if d.Format != DumpAsIs || d.Size > MaxStatsValue {
			return errors.New("a file's download has a size and no archive format")
		}
	case DumpKindDir:
		if (d.Format != DumpTarGz && d.Format != DumpZip) || d.Size != 0 {
			return errors.New("a folder's download names its archive format (tar.gz or zip) and no size")
		}
	default:
		return fmt.Errorf("a download is of a file or a dir, not %q", clip(d.Kind))
	}
	return nil
}

// The upload's trailer fields (HTTP trailers, declared in the request's
// Trailer header).
const (
	DumpTrailerStatus = "X-Dump-Status" // DumpStatusOK or DumpStatusFailed
	DumpTrailerBytes  = "X-Dump-Bytes"  // the body's length, decimal
	DumpTrailerSHA256 = "X-Dump-Sha256" // the body's SHA-256, lowercase hex
	DumpTrailerError  = "X-Dump-Error"  // why it failed, one sentence
)

// DumpTrailerNames lists the trailer fields, for the request's Trailer
// declaration.
var DumpTrailerNames = []string{DumpTrailerStatus, DumpTrailerBytes, DumpTrailerSHA256, DumpTrailerError}

// The values of DumpTrailerStatus.
const (
	DumpStatusOK     = "ok"
	DumpStatusFailed = "failed"
)

// MaxDumpError bounds the sentence of a failed upload.
const MaxDumpError = MaxReplyError

// DumpTrailer is how an upload ended, as its agent says.
type DumpTrailer struct {
	OK     bool
	Bytes  int64
	SHA256 string
	Error  string
}

// Values are the trailer's fields as text, to set on the request.
func (t DumpTrailer) Values() map[string]string {
	if !t.OK {
		msg := t.Error
		if msg == "" {
			msg = "the download failed on the agent"
		}
		return map[string]string{DumpTrailerStatus: DumpStatusFailed, DumpTrailerError: headerText(msg)}
	}
	return map[string]string{DumpTrailerStatus: DumpStatusOK, DumpTrailerBytes: strconv.FormatInt(t.Bytes, 10),
		DumpTrailerSHA256: t.SHA256}
}

// headerText makes s fit a header value: printable ASCII on one line (an
// HTTP field carries no reliable charset), at most MaxDumpError bytes.
func headerText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case b.Len() >= MaxDumpError:
			return b.String()
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r == '\n' || r == '\t' || r == '\r':
			b.WriteByte(' ')
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// ErrDumpCut is ParseDumpTrailer's answer to an upload without a status:
// its connection ended before the agent said how the dump went.
var ErrDumpCut = errors.New("the upload ended without saying how the dump went: the stream was cut")

// ParseDumpTrailer reads an upload's trailer through get (the trailer
// field's value, "" when absent). A trailer without a status is
// ErrDumpCut; a failed one is returned with its sentence (OK false); an ok
// one must carry a byte count and a SHA-256.
func ParseDumpTrailer(get func(name string) string) (DumpTrailer, error) {
	switch get(DumpTrailerStatus) {
	case "":
		return DumpTrailer{}, ErrDumpCut
	case DumpStatusFailed:
		msg := get(DumpTrailerError)
		if msg == "" || len(msg) > MaxDumpError || !utf8.ValidString(msg) {
			msg = "the dump failed on the agent (it gave no reason)"
		}
		return DumpTrailer{Error: headerText(msg)}, nil
	case DumpStatusOK:
		n, err := strconv.ParseInt(get(DumpTrailerBytes), 10, 64)
		if err != nil || n < 0 {
			return DumpTrailer{}, errors.New("the upload's trailer says ok without a valid byte count")
		}
		sum := get(DumpTrailerSHA256)
		if !ValidSHA256Hex(sum) {
			return DumpTrailer{}, errors.New("the upload's trailer says ok without a valid SHA-256")
		}
		return DumpTrailer{OK: true, Bytes: n, SHA256: sum}, nil
	}
	return DumpTrailer{}, fmt.Errorf("the upload's trailer has an unknown status %q", clip(get(DumpTrailerStatus)))
}

// Check compares the trailer with what arrived: n bytes whose SHA-256 is
// sum (lowercase hex). Only an ok trailer that matches both is a complete
// download.
func (t DumpTrailer) Check(n int64, sum string) error {
	switch {
	case !t.OK:
		return fmt.Errorf("the agent says the dump failed: %s", t.Error)
	case n != t.Bytes:
		return fmt.Errorf("%d bytes arrived but the agent sent %d: the stream was cut", n, t.Bytes)
	case sum != t.SHA256:
		return errors.New("the bytes that arrived do not match the SHA-256 the agent sent")
	}
	return nil
}

// checkDumpQuery is the dump op's rule: what it asks (CheckDumpRequest)
// and an upload token.
func checkDumpQuery(q *Query) error {
	if err := CheckDumpRequest(q.Snapshot, q.Path, q.Format); err != nil {
		return err
	}
	if !ValidDumpToken(q.Upload) {
		return errors.New("a dump query needs an upload token (rmd_ and 43 characters)")
	}
	return nil
}
