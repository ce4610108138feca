package topics

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckDumpRequest(t *testing.T) {
	for _, tc := range []struct {
		snap, path string
		format     DumpFormat
		ok         bool
	}{
		{"latest", "/etc/hosts", DumpAsIs, true},
		{"0123abcd", "/srv", DumpTarGz, true},
		{"0123abcd", `C:\Users`, DumpZip, true},
		{"0123abcd", "/srv", "tar", false},
		{"0123abcd", "/srv", "ZIP", false},
		{"xyz", "/srv", DumpAsIs, false},
		{"latest", "srv", DumpAsIs, false},
		{"latest", "/srv/../etc", DumpAsIs, false},
		{"latest", "/srv/\x00", DumpAsIs, false},
		{"latest", "", DumpAsIs, false},
	} {
		err := CheckDumpRequest(tc.snap, tc.path, tc.format)
		if (err == nil) != tc.ok {
			t.Errorf("CheckDumpRequest(%q, %q, %q) = %v, want ok %v", tc.snap, tc.path, tc.format, err, tc.ok)
		}
	}
}

func TestValidDumpToken(t *testing.T) {
	good := DumpTokenPrefix + strings.Repeat("aZ0-_", 8) + "abc"
	if !ValidDumpToken(good) {
		t.Fatalf("ValidDumpToken(%q) = false", good)
	}
	for _, bad := range []string{"", "rmd_", good + "a", good[:len(good)-1], "rme_" + good[4:], good[:10] + "/" + good[11:], good[:10] + "." + good[11:]} {
		if ValidDumpToken(bad) {
			t.Errorf("ValidDumpToken(%q) = true", bad)
		}
	}
	if got := DumpUploadPath(good); got != "/agent/v1/uploads/"+good {
		t.Errorf("DumpUploadPath = %q", got)
	}
}

func TestDumpStartValidate(t *testing.T) {
	for _, tc := range []struct {
		d  DumpStart
		ok bool
	}{
		{DumpStart{Kind: DumpKindFile, Size: 12}, true},
		{DumpStart{Kind: DumpKindFile}, true},
		{DumpStart{Kind: DumpKindFile, Format: DumpZip}, false},
		{DumpStart{Kind: DumpKindDir, Format: DumpTarGz}, true},
		{DumpStart{Kind: DumpKindDir, Format: DumpZip}, true},
		{DumpStart{Kind: DumpKindDir}, false},
		{DumpStart{Kind: DumpKindDir, Format: DumpZip, Size: 3}, false},
		{DumpStart{Kind: "symlink"}, false},
	} {
		if err := tc.d.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok %v", tc.d, err, tc.ok)
		}
	}
}

func TestDumpTrailerRoundTrip(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	ok := DumpTrailer{OK: true, Bytes: 1 << 40, SHA256: sum}
	got, err := ParseDumpTrailer(mapGetter(ok.Values()))
	if err != nil || got != ok {
		t.Fatalf("round trip of %+v = %+v, %v", ok, got, err)
	}
	if err := got.Check(1<<40, sum); err != nil {
		t.Errorf("Check of a matching body: %v", err)
	}
	if err := got.Check(1<<40-1, sum); err == nil {
		t.Error("Check accepted a body one byte short")
	}
	if err := got.Check(1<<40, strings.Repeat("cd", 32)); err == nil {
		t.Error("Check accepted a body with another SHA-256")
	}

	failed := DumpTrailer{Error: "restic failed:\nFatal: pack 1234 damaged \u00e9"}
	got, err = ParseDumpTrailer(mapGetter(failed.Values()))
	if err != nil || got.OK || got.Error != "restic failed: Fatal: pack 1234 damaged ?" {
		t.Fatalf("failed trailer = %+v, %v", got, err)
	}
	if err := got.Check(0, ""); err == nil || !strings.Contains(err.Error(), "pack 1234 damaged") {
		t.Errorf("Check of a failed trailer = %v, want the agent's sentence", err)
	}
}

func TestParseDumpTrailerRefuses(t *testing.T) {
	sum := strings.Repeat("0f", 32)
	if _, err := ParseDumpTrailer(mapGetter(nil)); !errors.Is(err, ErrDumpCut) {
		t.Errorf("no trailer = %v, want ErrDumpCut", err)
	}
	for _, m := range []map[string]string{
		{DumpTrailerStatus: "done"},
		{DumpTrailerStatus: DumpStatusOK, DumpTrailerSHA256: sum},
		{DumpTrailerStatus: DumpStatusOK, DumpTrailerBytes: "-1", DumpTrailerSHA256: sum},
		{DumpTrailerStatus: DumpStatusOK, DumpTrailerBytes: "12"},
		{DumpTrailerStatus: DumpStatusOK, DumpTrailerBytes: "12", DumpTrailerSHA256: strings.ToUpper(sum)},
	} {
		if tr, err := ParseDumpTrailer(mapGetter(m)); err == nil {
			t.Errorf("ParseDumpTrailer(%v) = %+v, want an error", m, tr)
		}
	}
	// A failed status without a sentence still parses, as a failure.
	tr, err := ParseDumpTrailer(mapGetter(map[string]string{DumpTrailerStatus: DumpStatusFailed}))
	if err != nil || tr.OK || tr.Error == "" {
		t.Errorf("failed without a reason = %+v, %v", tr, err)
	}
}

func FuzzParseDumpTrailer(f *testing.F) {
	f.Add("ok", "12", strings.Repeat("ab", 32), "")
	f.Add("failed", "", "", "restic: Fatal: boom")
	f.Add("", "", "", "")
	f.Add("ok", "99999999999999999999", "zz", "\xff")
	f.Fuzz(func(t *testing.T, status, n, sum, msg string) {
		m := map[string]string{DumpTrailerStatus: status, DumpTrailerBytes: n, DumpTrailerSHA256: sum, DumpTrailerError: msg}
		tr, err := ParseDumpTrailer(mapGetter(m))
		if err != nil {
			return
		}
		if tr.OK && (tr.Bytes < 0 || !ValidSHA256Hex(tr.SHA256)) {
			t.Fatalf("ok trailer with a bad count or sum: %+v", tr)
		}
		if !tr.OK && (tr.Error == "" || len(tr.Error) > MaxDumpError) {
			t.Fatalf("failed trailer with a bad sentence: %q", tr.Error)
		}
		if tr.OK && tr.Check(tr.Bytes, tr.SHA256) != nil {
			t.Fatalf("an ok trailer does not match its own count and sum: %+v", tr)
		}
		again, err := ParseDumpTrailer(mapGetter(tr.Values()))
		if err != nil || again != tr {
			t.Fatalf("Values does not round-trip: %+v → %+v, %v", tr, again, err)
		}
	})
}

func mapGetter(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestCheckDumpSupport(t *testing.T) {
	for _, tc := range []struct {
		f       DumpFormat
		version string
		ok      bool
	}{
		{DumpTarGz, "", true},
		{DumpTarGz, "0.9.6", true},
		{DumpZip, "0.12.0", true},
		{DumpZip, "0.18.1", true},
		{DumpZip, "1.0.0", true},
		{DumpZip, "0.11.1", false},
		{DumpZip, "", false},
		{DumpZip, "garbage", false},
	} {
		if err := CheckDumpSupport(tc.f, tc.version); (err == nil) != tc.ok {
			t.Errorf("CheckDumpSupport(%q, %q) = %v, want ok %v", tc.f, tc.version, err, tc.ok)
		}
	}
	if err := CheckDumpSupport(DumpZip, "0.11.1"); err == nil || !strings.Contains(err.Error(), "0.12.0") || !strings.Contains(err.Error(), "tar.gz") {
		t.Errorf("the refusal should name the release that can and the way around it: %v", err)
	}
	if !ResticAtLeast("0.16.0-dev", DumpRerootMinRestic) || ResticAtLeast("0.15.2", DumpRerootMinRestic) {
		t.Error("ResticAtLeast misreads 0.16.0-dev or 0.15.2")
	}
}
