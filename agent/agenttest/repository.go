package agenttest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// CheapKDF is the key derivation cost of the repositories InitRepository
// makes: the parameters restic's own tests use
// (repository.TestUseLowSecurityKDFParameters). restic reads them from the
// key file on every open and accepts any scrypt accepts.
var CheapKDF = KDFParams{N: 128, R: 1, P: 1}

// InitRepository makes dir (absent or empty) an initialised, empty local
// restic repository that password opens, as `restic init` would, except
// that its key is derived with CheapKDF. `restic init` calibrates scrypt to
// about half a second of CPU and 60 MiB, and every restic command pays that
// again to open the repository; with CheapKDF opening costs nothing worth
// measuring. Tests whose subject is not init itself use it wherever they
// need a repository; the tests of init keep the real `restic init`.
//
// It is a copy of a template made once per test binary with the real
// `restic init` (whose master key `restic cat masterkey` gives): the same
// layout, master key and chunker polynomial, but a fresh repository ID
// (restic keys its cache by it, and tests share one cache) and a key file
// of its own with a fresh salt.
func InitRepository(tb testing.TB, dir, password string) {
	tb.Helper()
	restic := RequireBinary(tb, "restic")
	repoTemplate.once.Do(func() { repoTemplate.err = repoTemplate.load(restic) })
	if repoTemplate.err != nil {
		tb.Fatalf("template repository: %v", repoTemplate.err)
	}
	if err := repoTemplate.copyTo(dir, password); err != nil {
		tb.Fatalf("repository %s from the template: %v", dir, err)
	}
}

// repoTemplate is what InitRepository copies, held in memory: the
// template's directory on disk is gone once it is read.
var repoTemplate struct {
	once sync.Once
	err  error
	template
}

type template struct {
	master     *resticKey
	masterJSON []byte
	config     map[string]json.RawMessage // decrypted
	dirs       []string                   // relative to the repository, parents first
	dirModes   map[string]fs.FileMode
	fileMode   fs.FileMode // of config and key files (restic writes them read-only)
	username   string
	hostname   string
	initKDF    KDFParams // what restic init's calibration chose
}

// load runs `restic init` and `restic cat masterkey` on a temporary
// repository and reads it.
func (t *template) load(restic string) error {
	tmp, err := os.MkdirTemp("", "agenttest-repo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	repo := filepath.Join(tmp, "repo")
	pw := make([]byte, 16)
	rand.Read(pw)
	env := []string{"RESTIC_REPOSITORY=" + repo, "RESTIC_PASSWORD=" + hex.EncodeToString(pw), "RESTIC_CACHE_DIR=" + filepath.Join(tmp, "cache")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RESTIC_") { // a password file or command of the caller's would win over ours
			env = append(env, kv)
		}
	}
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command(restic, args...)
		cmd.Env = env
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("restic %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		return out, err
	}
	if _, err := run("init"); err != nil {
		return err
	}
	out, err := run("cat", "masterkey")
	if err != nil {
		return err
	}
	t.master = &resticKey{}
	if err := json.Unmarshal(out, t.master); err != nil || !t.master.valid() {
		return fmt.Errorf("restic cat masterkey printed no key (%v): %q", err, out)
	}
	if t.masterJSON, err = json.Marshal(t.master); err != nil {
		return err
	}
	t.dirModes = map[string]fs.FileMode{}
	return filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repo, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if rel != "." {
				t.dirs = append(t.dirs, rel)
			}
			t.dirModes[rel] = info.Mode().Perm()
			return nil
		case rel == "config":
			t.fileMode = info.Mode().Perm()
			return t.readConfig(path)
		case filepath.Dir(rel) == "keys":
			return t.readKey(path)
		}
		return fmt.Errorf("restic init wrote %s, which the template does not know", rel)
	})
}

func (t *template) readConfig(path string) error {
	sealed, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	plain, err := t.master.open(sealed)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := json.Unmarshal(plain, &t.config); err != nil || t.config["id"] == nil {
		return fmt.Errorf("config %q: %v", plain, err)
	}
	return nil
}

func (t *template) readKey(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var k resticKeyFile
	if err := json.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("key %s: %w", filepath.Base(path), err)
	}
	t.username, t.hostname = k.Username, k.Hostname
	t.initKDF = KDFParams{k.N, k.R, k.P}
	return nil
}

// copyTo writes the template's directories, a config with a fresh ID and
// a key file wrapping the master key under password with CheapKDF.
func (t *template) copyTo(dir, password string) error {
	if err := os.MkdirAll(dir, t.dirModes["."]); err != nil {
		return err
	}
	for _, rel := range t.dirs {
		if err := os.Mkdir(filepath.Join(dir, rel), t.dirModes[rel]); err != nil {
			return err // also when dir was not empty
		}
	}
	config := map[string]json.RawMessage{}
	for k, v := range t.config {
		config[k] = v
	}
	id := make([]byte, 32)
	rand.Read(id)
	config["id"], _ = json.Marshal(hex.EncodeToString(id))
	plain, err := json.Marshal(config)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), t.master.seal(plain), t.fileMode); err != nil {
		return err
	}
	key, err := t.keyFile(password)
	if err != nil {
		return err
	}
	name := sha256.Sum256(key)
	return os.WriteFile(filepath.Join(dir, "keys", hex.EncodeToString(name[:])), key, t.fileMode)
}

// keyFile is a key file that unwraps the master key with password.
func (t *template) keyFile(password string) ([]byte, error) {
	k := resticKeyFile{Created: time.Now(), Username: t.username, Hostname: t.hostname,
		KDF: "scrypt", N: CheapKDF.N, R: CheapKDF.R, P: CheapKDF.P, Salt: make([]byte, 64)}
	rand.Read(k.Salt)
	user, err := deriveKey(password, k.Salt, CheapKDF)
	if err != nil {
		return nil, err
	}
	k.Data = user.seal(t.masterJSON)
	return json.Marshal(k)
}
