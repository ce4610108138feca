package server_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/server/servertest"
)

func TestMigrationsApplyOnceAndRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rm.db")
	db, err := server.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Get(&n, `SELECT COUNT(*) FROM schema_migrations`); err != nil || n != server.SchemaVersion() {
		t.Fatalf("recorded %d migrations (err %v), want %d", n, err, server.SchemaVersion())
	}
	var fk, busy int
	var mode string
	_ = db.Get(&fk, `PRAGMA foreign_keys`)
	_ = db.Get(&busy, `PRAGMA busy_timeout`)
	_ = db.Get(&mode, `PRAGMA journal_mode`)
	if fk != 1 || busy < 1000 || mode != "wal" {
		t.Fatalf("pragmas: foreign_keys=%d busy_timeout=%d journal_mode=%s", fk, busy, mode)
	}
	db.Close()
	// Re-opening applies nothing new.
	db, err = server.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Get(&n, `SELECT COUNT(*) FROM schema_migrations`); err != nil || n != server.SchemaVersion() {
		t.Fatalf("after reopen: %d migrations", n)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rm.db")
	db, err := server.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', CURRENT_TIMESTAMP)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = server.OpenDB(path)
	if err == nil || !strings.Contains(err.Error(), "newer restic-manager") {
		t.Fatalf("opening a newer database: err = %v, want a clear refusal", err)
	}
}

func TestSecretsNotInDatabaseFile(t *testing.T) {
	s := servertest.MustOpenService(t, server.Options{})
	ctx := t.Context()
	tm, err := s.LoadOrCreateTLS(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := servertest.MustCreateUser(t, s, "alice", server.RoleAdmin)
	apiTok, err := s.CreateAPIToken(ctx, server.CLIActor(), u.Name, "ci")
	if err != nil {
		t.Fatal(err)
	}
	enrTok, _, err := s.CreateEnrollmentToken(ctx, server.CLIActor(), "web-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Enroll(ctx, server.EnrollRequest{Token: enrTok, Hostname: "web-1", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	monPw, err := s.CreateMonitorAccount(ctx, server.CLIActor(), "grafana")
	if err != nil {
		t.Fatal(err)
	}
	sessTok, _, err := s.CreateSession(ctx, u, "127.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	caKey, _, err := s.GetSetting(ctx, "ca_key")
	if err != nil || !bytes.Contains(caKey, []byte("PRIVATE KEY")) {
		t.Fatalf("CA key not readable through the box: %v", err)
	}
	// Everything the store holds (SQLite: the WAL checkpointed, every file).
	secrets := map[string][]byte{
		"user password": []byte(servertest.Password), "api token": []byte(apiTok), "enrollment token": []byte(enrTok),
		"mqtt secret": []byte(res.MQTTPassword), "monitor password": []byte(monPw), "session token": []byte(sessTok),
		"CA private key": bytes.TrimSpace(caKey[40:90]), "server key": []byte("EC PRIVATE KEY"),
	}
	for where, data := range storedData(t, s) {
		for name, secret := range secrets {
			if containsSecret(data, secret) {
				t.Errorf("%s found in plaintext in %s", name, where)
			}
		}
	}
	if !strings.HasPrefix(tm.Fingerprint, "SHA256:") {
		t.Fatalf("fingerprint %q", tm.Fingerprint)
	}
}

func TestSecretBoxBindsPlace(t *testing.T) {
	box, err := server.LoadOrCreateMasterKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sealed := box.Seal([]byte("hunter2"), "repo:h_1:password")
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("sealed value contains plaintext")
	}
	if pt, err := box.Open(sealed, "repo:h_1:password"); err != nil || string(pt) != "hunter2" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := box.Open(sealed, "repo:h_2:password"); err == nil {
		t.Fatal("a sealed value opened under another place's label")
	}
	other, _ := server.LoadOrCreateMasterKey(t.TempDir())
	if _, err := other.Open(sealed, "repo:h_1:password"); err == nil {
		t.Fatal("a sealed value opened under another master key")
	}
}

func TestMasterKeyFileModeAndEnv(t *testing.T) {
	dir := t.TempDir()
	if _, err := server.LoadOrCreateMasterKey(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key mode %v err %v", fi.Mode().Perm(), err)
	}
	os.Chmod(filepath.Join(dir, "master.key"), 0o644)
	if _, err := server.LoadOrCreateMasterKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
	t.Setenv(server.MasterKeyEnv, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	empty := t.TempDir()
	if _, err := server.LoadOrCreateMasterKey(empty); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(empty, "master.key")); !os.IsNotExist(err) {
		t.Fatal("RM_MASTER_KEY set but master.key was still created")
	}
}
