package agenttest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// DamageLargestPack flips a byte every 512 bytes of the largest file under
// the local repository's data/ directory: with small files and one backup,
// the pack that holds their contents, so restoring them fails restic's
// authentication (#14, restore drills).
func DamageLargestPack(tb testing.TB, repo string) {
	tb.Helper()
	var largest string
	var size int64
	err := filepath.WalkDir(filepath.Join(repo, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if fi, err := d.Info(); err == nil && fi.Size() > size {
			largest, size = p, fi.Size()
		}
		return nil
	})
	if err != nil || largest == "" {
		tb.Fatalf("no pack in %s: %v", repo, err)
	}
	data, err := os.ReadFile(largest)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < len(data); i += 512 {
		data[i] ^= 0xff
	}
	// restic writes packs read-only.
	if err := os.Chmod(largest, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(largest, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}
