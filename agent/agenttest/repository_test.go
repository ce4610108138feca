package agenttest

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// restic runs the real restic on repo with password and returns its
// standard output; errors are the test's to judge.
func runRestic(t *testing.T, repo, password string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(RequireBinary(t, "restic"), args...)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD="+password, "RESTIC_CACHE_DIR="+filepath.Join(filepath.Dir(repo), "cache"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, errors.New(err.Error() + ": " + stderr.String())
	}
	return out, nil
}

func mustRestic(t *testing.T, repo, password string, args ...string) []byte {
	t.Helper()
	out, err := runRestic(t, repo, password, args...)
	if err != nil {
		t.Fatalf("restic %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// keyParams reads the scrypt parameters of the repository's key files.
func keyParams(t *testing.T, repo string) []KDFParams {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repo, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	var out []KDFParams
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(repo, "keys", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var k resticKeyFile
		if err := json.Unmarshal(data, &k); err != nil || k.KDF != "scrypt" {
			t.Fatalf("key file %s (%v): %s", e.Name(), err, data)
		}
		out = append(out, KDFParams{k.N, k.R, k.P})
	}
	return out
}

// TestInitRepositoryOpensWithRestic: the real restic opens a repository
// InitRepository made, backs up into it and lists the snapshot; its one key
// is derived with CheapKDF, far cheaper than what restic init chose; a
// wrong password is refused; two repositories have IDs of their own.
func TestInitRepositoryOpensWithRestic(t *testing.T) {
	const password = "pw-agenttest-Kq7-cheap-kdf"
	repo := filepath.Join(t.TempDir(), "repo")
	InitRepository(t, repo, password)

	var cfg struct {
		Version int    `json:"version"`
		ID      string `json:"id"`
	}
	out := mustRestic(t, repo, password, "cat", "config")
	if err := json.Unmarshal(out, &cfg); err != nil || cfg.Version != 2 || len(cfg.ID) != 64 {
		t.Fatalf("restic cat config (%v): %s", err, out)
	}

	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "sub", "a.txt"), []byte("cheap key, real restic\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRestic(t, repo, password, "backup", "--json", src)
	var snaps []struct {
		Paths []string `json:"paths"`
	}
	out = mustRestic(t, repo, password, "snapshots", "--json")
	if err := json.Unmarshal(out, &snaps); err != nil || len(snaps) != 1 || len(snaps[0].Paths) != 1 || snaps[0].Paths[0] != src {
		t.Fatalf("restic snapshots after one backup of %s (%v): %s", src, err, out)
	}
	mustRestic(t, repo, password, "check")

	params := keyParams(t, repo)
	if len(params) != 1 || params[0] != CheapKDF || CheapKDF != (KDFParams{N: 128, R: 1, P: 1}) {
		t.Fatalf("key files' scrypt parameters %+v, want one with N=128 r=1 p=1", params)
	}
	// scrypt's work grows with N·r·p, its memory with N·r. restic init
	// calibrates to the machine (less under load), so only "cheaper" is
	// certain; the log shows by how much.
	real := repoTemplate.initKDF
	if real.N*real.R*real.P <= CheapKDF.N*CheapKDF.R*CheapKDF.P || real.N*real.R <= CheapKDF.N*CheapKDF.R {
		t.Fatalf("restic init chose %+v; the cheap key %+v is not cheaper", real, CheapKDF)
	}
	t.Logf("restic init chose scrypt %+v; the test repository's key uses %+v", real, CheapKDF)

	out, err := runRestic(t, repo, "not the password", "cat", "config")
	if err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("restic with a wrong password: %v %s", err, out)
	}

	other := filepath.Join(t.TempDir(), "repo")
	InitRepository(t, other, "another password")
	var otherCfg struct {
		ID string `json:"id"`
	}
	out = mustRestic(t, other, "another password", "cat", "config")
	if err := json.Unmarshal(out, &otherCfg); err != nil || len(otherCfg.ID) != 64 || otherCfg.ID == cfg.ID {
		t.Fatalf("two repositories' IDs: %q and %q (%v)", cfg.ID, otherCfg.ID, err)
	}
	if _, err := runRestic(t, other, password, "cat", "config"); err == nil {
		t.Fatal("the first repository's password opens the second")
	}
}

// TestInitRepositoryRefusesNonEmptyDir: like restic init, it never writes
// over a repository already there.
func TestInitRepositoryRefusesNonEmptyDir(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	InitRepository(t, repo, "pw")
	r := &endRecorder{TB: t}
	r.run(func(tb testing.TB) { InitRepository(tb, repo, "pw") })
	if !strings.Contains(r.failed, "file exists") {
		t.Fatalf("a second InitRepository on %s: failed %q, skipped %q", repo, r.failed, r.skipped)
	}
	if n := len(keyParams(t, repo)); n != 1 {
		t.Fatalf("%d key files after the refused copy, want 1", n)
	}
}

// TestResticKeyOpenRefusesTampering: the MAC is checked before decrypting.
func TestResticKeyOpenRefusesTampering(t *testing.T) {
	k, err := deriveKey("pw", make([]byte, 64), CheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	sealed := k.seal([]byte(`{"a":1}`))
	if plain, err := k.open(sealed); err != nil || string(plain) != `{"a":1}` {
		t.Fatalf("open(seal(x)) = %q, %v", plain, err)
	}
	for i := range sealed {
		bad := append([]byte(nil), sealed...)
		bad[i] ^= 1
		if _, err := k.open(bad); err == nil {
			t.Fatalf("a flipped bit at byte %d of %d went unnoticed", i, len(sealed))
		}
	}
}
