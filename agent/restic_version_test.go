package agent

import (
	"context"
	"errors"
	"regexp"
	"testing"

	"github.com/restic-manager/restic-manager/agent/agenttest"
)

func TestParseResticVersion(t *testing.T) {
	cases := []struct{ out, want string }{
		{"restic 0.18.1 compiled with go1.24 on linux/amd64\n", "0.18.1"},
		{"restic 0.18.1 compiled with go1.26.8 on linux/amd64", "0.18.1"},
		{"restic 0.9.6 (v0.9.6-0-gc43fc4ad) compiled with go1.13.4 on linux/amd64\n", "0.9.6"},
		{"restic 0.16.0-dev (compiled manually) compiled with go1.20.6 on linux/amd64\n", "0.16.0-dev"},
		{"restic 0.14.0 (0.14.0-1) compiled with go1.19.8 on windows/amd64\r\n", "0.14.0"},
		{"restic 0.8.3\ncompiled with go1.10 on linux/amd64\n", "0.8.3"},
		{"\n\nrestic v0.17.0 compiled with go1.22.5 on darwin/arm64\n", "0.17.0"},
		{"restic 0.12\n", "0.12"},
		{"", ""},
		{"   \n", ""},
		{"rustic 0.5.0\n", ""},
		{"Usage: restic [command]\n", ""},
		{"restic\n", ""},
		{"restic 0.18.1;rm -rf /\n", ""},
		{"restic abc\n", ""},
		{"bash: restic: command not found\n", ""},
	}
	for _, tc := range cases {
		got, err := ParseResticVersion(tc.out)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%q: accepted as %q", tc.out, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.out, got, err, tc.want)
		}
	}
}

var versionShape = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?([-+][0-9A-Za-z.+-]+)?$`)

func FuzzParseResticVersion(f *testing.F) {
	f.Add("restic 0.18.1 compiled with go1.24 on linux/amd64\n")
	f.Add("restic 0.8.3\ncompiled with go1.10 on linux/amd64\n")
	f.Add("restic 0.16.0-dev (compiled manually)")
	f.Add("\x00restic 1.2.3")
	f.Fuzz(func(t *testing.T, out string) {
		v, err := ParseResticVersion(out)
		if err != nil {
			return
		}
		// What we report must fit the hello's version field: short, no
		// control characters, the shape of a version.
		if len(v) > 100 || !versionShape.MatchString(v) {
			t.Fatalf("accepted %q from %q", v, out)
		}
	})
}

func TestResticVersionRealBinary(t *testing.T) {
	bin := agenttest.RequireBinary(t, "restic")
	v, err := ResticVersion(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	if !versionShape.MatchString(v) {
		t.Fatalf("version %q", v)
	}
	// By name through PATH, as the default config does.
	if v2, err := ResticVersion(context.Background(), "restic"); err != nil || v2 != v {
		t.Fatalf("by name: %q %v", v2, err)
	}
}

func TestResticVersionMissingBinary(t *testing.T) {
	_, err := ResticVersion(context.Background(), "/nonexistent/restic")
	if !errors.Is(err, ErrResticNotFound) {
		t.Fatalf("got %v, want ErrResticNotFound", err)
	}
	// A program that is not restic is refused, not misreported.
	sh := agenttest.RequireBinary(t, "true")
	if _, err := ResticVersion(context.Background(), sh); err == nil {
		t.Fatal("`true version` accepted as restic")
	}
}
