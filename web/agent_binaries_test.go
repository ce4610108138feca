package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/server"
)

// writeAgentDir fills a directory as `make agents` does, plus files that are
// not binaries, and returns the bytes of each binary by platform.
func writeAgentDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	bins := map[string][]byte{
		"restic-manager-agent-linux-amd64":       []byte("\x7fELF linux amd64 build"),
		"restic-manager-agent-windows-arm64.exe": []byte("MZ windows arm64 build, a little longer"),
		"restic-manager-agent-linux-arm":         []byte("\x7fELF armv7"),
	}
	others := map[string][]byte{
		"VERSION":                            []byte("v1.4.0-3-gabcdef\n"),
		"restic-manager-agent-plan9-amd64":   []byte("not a platform we serve"),
		"restic-manager-agent-windows-amd64": []byte("a windows build without .exe is not one"),
		"SHA256SUMS":                         []byte("whatever"),
	}
	for _, m := range []map[string][]byte{bins, others} {
		for name, body := range m {
			if err := os.WriteFile(filepath.Join(dir, name), body, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return map[string][]byte{"linux/amd64": bins["restic-manager-agent-linux-amd64"],
		"windows/arm64": bins["restic-manager-agent-windows-arm64.exe"], "linux/arm": bins["restic-manager-agent-linux-arm"]}
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestAgentBinaryDownloadCarriesItsChecksumAndVersion(t *testing.T) {
	dir := t.TempDir()
	want := writeAgentDir(t, dir)
	app := newTestApp(t, func(c *Config) { c.AgentBinaries = NewAgentBinaries(dir) })
	anon := app.browser()

	for platform, body := range want {
		goos, arch, _ := strings.Cut(platform, "/")
		res := anon.get("/agent/binary?os=" + goos + "&arch=" + arch)
		if res.StatusCode != http.StatusOK || res.body != string(body) {
			t.Fatalf("%s: %d %q", platform, res.StatusCode, res.body)
		}
		if got := res.Header.Get("X-Checksum-Sha256"); got != hexSum([]byte(res.body)) {
			t.Errorf("%s: X-Checksum-Sha256 %q is not the body's %s", platform, got, hexSum([]byte(res.body)))
		}
		if got := res.Header.Get("X-Agent-Version"); got != "v1.4.0-3-gabcdef" {
			t.Errorf("%s: X-Agent-Version %q", platform, got)
		}
		if got := res.Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
			t.Errorf("%s: Content-Length %q, want %d", platform, got, len(body))
		}
	}

	// A rebuild while the server runs is served with its own checksum, not
	// the one remembered for the old file.
	rebuilt := []byte("\x7fELF linux amd64 build, rebuilt and longer")
	path := filepath.Join(dir, "restic-manager-agent-linux-amd64")
	if err := os.WriteFile(path, rebuilt, 0o755); err != nil {
		t.Fatal(err)
	}
	res := anon.get("/agent/binary?os=linux&arch=amd64")
	if res.body != string(rebuilt) || res.Header.Get("X-Checksum-Sha256") != hexSum(rebuilt) {
		t.Fatalf("after a rebuild: %q with checksum %s", res.body, res.Header.Get("X-Checksum-Sha256"))
	}
	// Same size, same time, other bytes: only a hash could tell, and the
	// server does not hash per download. Pinning that shows the cache is
	// keyed by size and modification time (install.sh's index check and
	// header check both catch such a swap on the machine).
	fi, _ := os.Stat(path)
	same := []byte(strings.Replace(string(rebuilt), "longer", "LONGER", 1))
	if err := os.WriteFile(path, same, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, time.Time{}, fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if res := anon.get("/agent/binary?os=linux&arch=amd64"); res.Header.Get("X-Checksum-Sha256") != hexSum(rebuilt) {
		t.Fatalf("the checksum was recomputed for an unchanged size and time: the cache is not used")
	}
}

func TestAgentBinaryIndexListsWhatIsInTheDirectory(t *testing.T) {
	dir := t.TempDir()
	want := writeAgentDir(t, dir)
	app := newTestApp(t, func(c *Config) { c.AgentBinaries = NewAgentBinaries(dir) })
	res := app.browser().get("/agent/binaries")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("index: %d %s", res.StatusCode, res.body)
	}
	var got struct {
		Binaries []AgentBinary `json:"binaries"`
	}
	if err := json.Unmarshal([]byte(res.body), &got); err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, b := range got.Binaries {
		platforms = append(platforms, b.Platform())
		body := want[b.Platform()]
		if b.SHA256 != hexSum(body) || b.Size != int64(len(body)) || b.Version != "v1.4.0-3-gabcdef" {
			t.Errorf("%s: %+v", b.Platform(), b)
		}
	}
	if strings.Join(platforms, " ") != "linux/amd64 linux/arm windows/arm64" {
		t.Errorf("platforms %v, want exactly the three builds, sorted", platforms)
	}

	// No VERSION file: the version is said to be unknown, not guessed.
	os.Remove(filepath.Join(dir, "VERSION"))
	if res := app.browser().get("/agent/binary?os=linux&arch=arm"); res.Header.Get("X-Agent-Version") != "unknown" {
		t.Errorf("version without VERSION: %q", res.Header.Get("X-Agent-Version"))
	}
}

func TestAgentBinaryUnknownPlatformNamesTheAvailableOnes(t *testing.T) {
	dir := t.TempDir()
	writeAgentDir(t, dir)
	app := newTestApp(t, func(c *Config) { c.AgentBinaries = NewAgentBinaries(dir) })
	for _, query := range []string{"?os=linux&arch=riscv64", "?os=darwin&arch=arm64", "?os=../../etc&arch=passwd", "", "?os=linux"} {
		res := app.browser().get("/agent/binary" + query)
		e := apiErrorOf(t, res)
		if res.StatusCode != http.StatusNotFound || e.Error != server.CodeNotFound ||
			!strings.Contains(e.Message, "linux/amd64, linux/arm, windows/arm64") {
			t.Errorf("%q: %d %+v", query, res.StatusCode, e)
		}
	}
	res := app.browser().get("/agent/binary?os=linux&arch=riscv64")
	if e := apiErrorOf(t, res); !strings.Contains(e.Message, `"linux/riscv64"`) {
		t.Errorf("the refusal does not name what was asked: %q", e.Message)
	}

	// A server without binaries says so, and how its admin adds them.
	for _, tweak := range []func(*Config){
		func(c *Config) {},
		func(c *Config) { c.AgentBinaries = NewAgentBinaries(filepath.Join(dir, "missing")) },
	} {
		app := newTestApp(t, tweak)
		res := app.browser().get("/agent/binary?os=linux&arch=amd64")
		if e := apiErrorOf(t, res); res.StatusCode != http.StatusNotFound || !strings.Contains(e.Message, "make agents") {
			t.Errorf("no binaries: %d %+v", res.StatusCode, e)
		}
		if res := app.browser().get("/agent/binaries"); res.StatusCode != http.StatusOK || res.body != `{"binaries":[]}` {
			t.Errorf("empty index: %d %s", res.StatusCode, res.body)
		}
	}
}
