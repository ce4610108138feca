package topics

import (
	"strings"
	"testing"
)

func validUpgrade() *Upgrade {
	return &Upgrade{
		Envelope: NewEnvelope(TypeUpgrade, RandomID(HostIDPrefix)),
		Version:  "v1.4.0",
		SHA256:   strings.Repeat("ab", 32),
		Size:     12 << 20,
		Path:     AgentBinaryPathFor("linux", "amd64"),
	}
}

func TestUpgradeValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Upgrade)
		ok     bool
	}{
		{"valid", func(*Upgrade) {}, true},
		{"windows path", func(u *Upgrade) { u.Path = AgentBinaryPathFor("windows", "arm64") }, true},
		{"wrong type", func(u *Upgrade) { u.Type = TypeCmd }, false},
		{"no version", func(u *Upgrade) { u.Version = "" }, false},
		{"version with space", func(u *Upgrade) { u.Version = "1 0" }, false},
		{"long version", func(u *Upgrade) { u.Version = strings.Repeat("1", 65) }, false},
		{"short sha", func(u *Upgrade) { u.SHA256 = "abcd" }, false},
		{"upper sha", func(u *Upgrade) { u.SHA256 = strings.Repeat("AB", 32) }, false},
		{"non-hex sha", func(u *Upgrade) { u.SHA256 = strings.Repeat("zz", 32) }, false},
		{"zero size", func(u *Upgrade) { u.Size = 0 }, false},
		{"huge size", func(u *Upgrade) { u.Size = MaxAgentBinary + 1 }, false},
		{"absolute URL", func(u *Upgrade) { u.Path = "https://evil.example/agent/binary?os=linux" }, false},
		{"scheme-relative", func(u *Upgrade) { u.Path = "//evil.example/agent/binary" }, false},
		{"other path", func(u *Upgrade) { u.Path = "/api/v1/hosts" }, false},
		{"path prefix trick", func(u *Upgrade) { u.Path = "/agent/binary/../../etc" }, false},
		{"fragment", func(u *Upgrade) { u.Path = "/agent/binary?os=linux#x" }, false},
	}
	for _, tc := range cases {
		u := validUpgrade()
		tc.change(u)
		if err := u.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestUpgradeReportValidate(t *testing.T) {
	valid := func() *UpgradeReport {
		return &UpgradeReport{Envelope: NewEnvelope(TypeUpgradeReport, RandomID(HostIDPrefix)),
			Upgrade: NewMessageID(), State: UpgradeDone, From: "1.0.0", To: "2.0.0"}
	}
	cases := []struct {
		name   string
		change func(*UpgradeReport)
		ok     bool
	}{
		{"done", func(*UpgradeReport) {}, true},
		{"delivered", func(r *UpgradeReport) { r.State = UpgradeDelivered }, true},
		{"rolled back with reason", func(r *UpgradeReport) { r.State, r.Reason = UpgradeRolledBack, "no hello in 2m" }, true},
		{"failed without reason", func(r *UpgradeReport) { r.State = UpgradeFailed }, false},
		{"requested is server-only", func(r *UpgradeReport) { r.State = UpgradeRequested }, false},
		{"no host", func(r *UpgradeReport) { r.Host = "" }, false},
		{"no upgrade id", func(r *UpgradeReport) { r.Upgrade = "" }, false},
		{"bad from", func(r *UpgradeReport) { r.From = "" }, false},
		{"long reason", func(r *UpgradeReport) { r.State, r.Reason = UpgradeFailed, strings.Repeat("x", 1025) }, false},
	}
	for _, tc := range cases {
		r := valid()
		tc.change(r)
		if err := r.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestUpgradeTopicRoundTrip(t *testing.T) {
	h := RandomID(HostIDPrefix)
	name := Topic{Kind: KindUpgrade, Host: h}.String()
	if name != Prefix+"/hosts/"+h+"/up/upgrade" {
		t.Fatalf("upgrade topic = %q", name)
	}
	got, err := Parse(name)
	if err != nil || got != (Topic{Kind: KindUpgrade, Host: h}) {
		t.Fatalf("Parse(%q) = %+v, %v", name, got, err)
	}
	if _, err := Parse(Prefix + "/hosts/" + h + "/down/upgrade"); err == nil {
		t.Fatal("down/upgrade parsed; the command travels on down/cmd")
	}
}

func FuzzDecodeUpgrade(f *testing.F) {
	u := validUpgrade()
	b, _ := Encode(u)
	f.Add(b)
	r := &UpgradeReport{Envelope: NewEnvelope(TypeUpgradeReport, u.Host), Upgrade: u.ID, State: UpgradeFailed,
		From: "1", To: "2", Reason: "checksum mismatch"}
	b, _ = Encode(r)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var up Upgrade
		if Decode(data, &up) == nil {
			if err := up.Validate(); err != nil {
				t.Fatalf("decoded upgrade fails validation: %v", err)
			}
		}
		var rep UpgradeReport
		if Decode(data, &rep) == nil {
			if err := rep.Validate(); err != nil {
				t.Fatalf("decoded report fails validation: %v", err)
			}
		}
	})
}
