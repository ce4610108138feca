package topics

import (
	"slices"
	"strings"
	"testing"
)

// The expected values come from outside this code: `openssl dgst -sha256
// -binary | base64`, padding dropped (OpenSSH's form).
func TestFingerprint(t *testing.T) {
	for data, want := range map[string]string{
		"":    "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
		"abc": "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0",
	} {
		if got := Fingerprint([]byte(data)); got != want {
			t.Errorf("Fingerprint(%q) = %s, want %s", data, got, want)
		}
		if got := KeyFingerprint([]byte(data)); got != want {
			t.Errorf("KeyFingerprint(%q) = %s, want %s", data, got, want)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	abc := "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0"
	for _, s := range []string{abc, abc + "=", "  " + abc + "\n"} {
		pin, err := ParseFingerprint(s)
		if err != nil {
			t.Fatalf("ParseFingerprint(%q): %v", s, err)
		}
		if !FingerprintMatches([]byte("abc"), pin) {
			t.Errorf("ParseFingerprint(%q) does not match the data it is the fingerprint of", s)
		}
		if FingerprintMatches([]byte("abd"), pin) {
			t.Errorf("ParseFingerprint(%q) matches other data", s)
		}
	}
	for s, want := range map[string]string{
		"":                  "must start with SHA256:",
		"ungWv48Bz+pBQUDe":  "must start with SHA256:",
		"sha256:" + abc[7:]: "must start with SHA256:",
		"SHA256:":           "43 base64 characters",
		abc[:len(abc)-1]:    "43 base64 characters",
		abc + "AAAA":        "43 base64 characters",
		"SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAF!0": "43 base64 characters",
		"MD5:ab:cd": "must start with SHA256:",
	} {
		if _, err := ParseFingerprint(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFingerprint(%q) = %v, want an error saying %q", s, err, want)
		}
	}
	if FingerprintMatches([]byte("abc"), nil) {
		t.Error("an empty pin matches")
	}
	if pin, err := ParseFingerprint(abc); err != nil || string(pin) != string(FingerprintPin([]byte("abc"))) {
		t.Errorf("FingerprintPin(abc) = %x, ParseFingerprint of its fingerprint %x (%v)", FingerprintPin([]byte("abc")), pin, err)
	}
}

func TestFingerprintGroups(t *testing.T) {
	for fp, want := range map[string][]string{
		"SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0": {"SHA256:", "ungW", "v48B", "z+pB", "QUDe", "Xa4i",
			"I7AD", "YaOW", "F3qc", "tBD/", "YfIA", "Fa0"},
		"SHA256:abcd": {"SHA256:", "abcd"},
		"SHA256:":     {"SHA256:", ""},
		"not one":     {"not one"},
	} {
		got := FingerprintGroups(fp)
		if !slices.Equal(got, want) {
			t.Errorf("FingerprintGroups(%q) = %q, want %q", fp, got, want)
		}
		if strings.Join(got, "") != fp {
			t.Errorf("FingerprintGroups(%q) joined is %q", fp, strings.Join(got, ""))
		}
	}
}
