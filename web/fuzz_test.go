package web

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/server"
	"github.com/restic-manager/restic-manager/topics"
)

// Fuzz tests for every decoder of untrusted input written here. Run one
// with e.g. `go test ./web -run '^$' -fuzz FuzzDecodeAgentEnrollRequest`.

// checkDecodeError: a refusal is always a CodeInvalid server.Error whose
// message is one clean sentence (no raw decoder text, no control bytes).
func checkDecodeError(t *testing.T, err error) {
	var e *server.Error
	if !errors.As(err, &e) || e.Code != server.CodeInvalid {
		t.Fatalf("error %v is not a CodeInvalid server.Error", err)
	}
	if !strings.HasSuffix(e.Message, ".") || !utf8.ValidString(e.Message) || strings.ContainsAny(e.Message, "\n\r\x00") {
		t.Fatalf("message %q is not one clean sentence", e.Message)
	}
}

func FuzzDecodeAgentEnrollRequest(f *testing.F) {
	for _, seed := range []string{
		enrollBody("rme_abc"),
		`{"token":"rme_x"}`,
		`{"token":""}`,
		`{"token":null,"os":7}`,
		`{"token":"` + strings.Repeat("a", 300) + `"}`,
		`[]`, `null`, `"x"`, `{`, `{}{}`, "\xff\xfe", `{"token":"a\u0000b"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeAgentEnrollRequest(strings.NewReader(string(body)))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if req.Token == "" || len(req.Token) > 200 || req.Token != strings.TrimSpace(req.Token) {
			t.Fatalf("accepted token %q", req.Token)
		}
	})
}

func FuzzDecodeEnrollmentTokenRequest(f *testing.F) {
	for _, seed := range []string{
		`{"host_name":"web-01"}`,
		`{"host_name":"web-01","ttl":"90m"}`,
		`{"host_name":"web-01","ttl":3600}`,
		`{"host_name":"web-01","ttl":-1}`,
		`{"host_name":"web-01","ttl":1e400}`,
		`{"host_name":"web-01","ttl":"9223372036854775807h"}`,
		`{"host_name":"web-01","ttl":99999999999999999999}`,
		`{"host_name":"web-01","ttl":1.5}`,
		`{"host_name":"web-01","ttl":null}`,
		`{"host_name":"  "}`, `{"ttl":"1h"}`, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeEnrollmentTokenRequest(strings.NewReader(string(body)))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if req.HostName == "" || req.HostName != strings.TrimSpace(req.HostName) {
			t.Fatalf("accepted host name %q", req.HostName)
		}
	})
}

func FuzzDecodePendingAcceptRequest(f *testing.F) {
	for _, seed := range []string{
		`{"name":"web-01"}`,
		`{"name":"web-01","repository":null}`,
		`{"name":"web-01","repository":{"url":"s3:x"}}`,
		`{"name":"web-01","repository":{"url":"/srv/r","password":"p","env":{"AWS_X":"1"}}}`,
		`{"name":"web-01","repository":{"url":"/srv/r","password":"p","env":{"PATH":"1"}}}`,
		`{"name":"web-01","repository":" null "}`,
		`{"name":"  "}`, `{"name":7}`, `{}`, `{`, `[]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodePendingAcceptRequest(strings.NewReader(string(body)))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if req.Name == "" || req.Name != strings.TrimSpace(req.Name) {
			t.Fatalf("accepted name %q", req.Name)
		}
		if req.Repository != nil {
			cfg := topics.RepositoryConfig{URL: req.Repository.URL, Password: req.Repository.Password, Env: req.Repository.Env}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("accepted an invalid repository: %v", err)
			}
		}
	})
}

func FuzzSafeNext(f *testing.F) {
	for _, seed := range []string{"/", "/hosts/h_1?x=1", "//evil", "/\\evil", "https://x", "/login", "\x00", "/%2F%2Fevil"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "/" && got != next {
			t.Fatalf("safeNext rewrote %q to %q", next, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t\x00") {
			t.Fatalf("safeNext(%q) = %q leaves the site or carries control characters", next, got)
		}
	})
}

func FuzzEncodeSSE(f *testing.F) {
	f.Add("hosts", "<tr>\n<td>x</td></tr>")
	f.Add("a\nb", "\r\r\n\n")
	f.Add("", "data: event: x\n\nid: 1")
	f.Fuzz(func(t *testing.T, event, data string) {
		frame := encodeSSE(sseMessage{event: event, data: data})
		if !strings.HasSuffix(frame, "\n\n") {
			t.Fatalf("frame %q does not end with a blank line", frame)
		}
		lines := strings.Split(strings.TrimSuffix(frame, "\n\n"), "\n")
		if !strings.HasPrefix(lines[0], "event: ") {
			t.Fatalf("first line %q", lines[0])
		}
		var got []string
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, "data: ") || strings.Contains(l, "\r") {
				t.Fatalf("line %q would be parsed as another field", l)
			}
			got = append(got, strings.TrimPrefix(l, "data: "))
		}
		want := strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
		if strings.Join(got, "\n") != want {
			t.Fatalf("data round trip: got %q, want %q", strings.Join(got, "\n"), want)
		}
	})
}

func FuzzDecodeJobCreateRequest(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"backup","paths":["/etc"],"excludes":["*.tmp"],"tags":["a"],"bandwidth_up_kbps":10,"expires_in":"2h"}`,
		`{"kind":"restore","snapshot":"latest","target":"/tmp/r","include":["/etc"]}`,
		`{"kind":"forget","retention":{"daily":7,"within":"1y"},"prune":true}`,
		`{"kind":"check","read_data_subset":"1/5","expires_in":3600}`,
		`{"kind":"backup","paths":["rel"]}`, `{"kind":"x"}`, `{"kind":"unlock","bogus":1}`, `{"expires_in":-1}`, `{`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeJobCreateRequest(strings.NewReader(string(body)))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if err := req.JobSpec.Validate(); err != nil {
			t.Fatalf("accepted an invalid spec %+v: %v", req.JobSpec, err)
		}
		if d := req.request().ExpiresIn; d < 0 || d > server.MaxJobExpiry {
			t.Fatalf("accepted expires_in %v", d)
		}
	})
}

func FuzzDecodeRepositoryRequest(f *testing.F) {
	for _, seed := range []string{
		`{"url":"/srv/r","password":"p"}`,
		`{"url":"s3:host/b","password":"p","env":{"AWS_ACCESS_KEY_ID":"a"}}`,
		`{"url":"ftp:x","password":"p"}`, `{"url":"/r","password":"p","env":{"PATH":"/"}}`, `{"url":"/r"}`, `[]`, `{"x":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeRepositoryRequest(strings.NewReader(string(body)))
		if err != nil {
			checkDecodeError(t, err)
			if req.Password != "" && len(req.Password) >= 8 && strings.Contains(err.Error(), req.Password) {
				t.Fatalf("the error %q quotes the password", err)
			}
			return
		}
		cfg := topics.RepositoryConfig{URL: req.URL, Password: req.Password, Env: req.Env}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted an invalid repository: %v", err)
		}
	})
}

func FuzzParseEnvLines(f *testing.F) {
	for _, seed := range []string{"AWS_A=1\nAWS_B=2", "# c\n\nX", "=v", "A=1\r\nA=2", "B2_KEY==x="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		env, msg := parseEnvLines(s)
		if msg != "" {
			if env != nil {
				t.Fatal("both an env and an error")
			}
			return
		}
		for k := range env {
			if k == "" || strings.ContainsAny(k, "=\n") {
				t.Fatalf("parsed name %q", k)
			}
		}
	})
}

func FuzzDecodeSourceGroupRequest(f *testing.F) {
	for _, seed := range []string{
		`{"name":"docs","paths":["/home"],"schedules":[{"cron":"0 3 * * *"}]}`,
		`{"name":"docs","paths":["/home"],"schedules":[{"preset":"daily","time":"03:00","time_zone":"Europe/Berlin","jitter_seconds":600,"catch_up":true}]}`,
		`{"name":"docs","paths":["/home"],"schedules":[{"id":3,"preset":"weekly","weekday":"mon","time":"3:00"},{"cron":"@hourly"}]}`,
		`{"name":"docs","paths":["/home"],"schedules":[{"preset":"hourly","minute":-1}]}`,
		`{"name":"docs","paths":["/home"],"schedules":[{"nope":1}]}`,
		`{"name":"docs","paths":["/home"],"schedules":[1]}`, `{"name":"docs","paths":["/home"],"schedules":[]}`,
		`{"id":1,"key":"sg_1","host_id":"h","name":"docs","paths":["/home"],"has_pre_hook":true,"last_backup":null,"schedules":null}`,
		`{"name":"docs","paths":["/home"],"retention":{"daily":7,"within":"1y2m"},"forget_after_backup":true}`,
		`{"name":"d\u0000","paths":["/\u0000"]}`, `{}`, `null`, `[]`, `{`, "\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeSourceGroupRequest(strings.NewReader(string(body)))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		// Accepted: what the agent will be sent validates, and every
		// schedule says when (the domain checks the rest in its
		// transaction).
		if err := checkGroup(req.SourceGroupInput); err != nil {
			t.Fatalf("accepted %q but the group is invalid: %v", body, err)
		}
		for _, s := range req.Schedules {
			if s.Cron == "" || s.ID < 0 {
				t.Fatalf("accepted %q with a schedule %+v", body, s)
			}
			_ = scheduleWords(s.Cron, s.TimeZone)
		}
	})
}

func FuzzDecodeScheduleRequest(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"backup","source_group":"docs","cron":"0 3 * * *"}`,
		`{"kind":"check","read_data_subset":"10%","preset":"weekly","weekday":"0","time":"04:00"}`,
		`{"kind":"prune","preset":"hourly","minute":59,"time_zone":"Asia/Tokyo","paused":true}`,
		`{"kind":"forget","cron":"@weekly","jitter_seconds":21600,"catch_up":false}`,
		`{"kind":"check","cron":"CRON_TZ=UTC 0 3 * * *"}`, `{"kind":"x"}`, `{}`, `7`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeScheduleRequest(strings.NewReader(string(body)))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		// Accepted: it says when (the domain checks the rest).
		if strings.TrimSpace(in.Cron) == "" || in.Cron != strings.TrimSpace(in.Cron) {
			t.Fatalf("accepted %q without a clean cron: %+v", body, in)
		}
	})
}

func FuzzDecodeBandwidthAndRetention(f *testing.F) {
	for _, seed := range []string{`{"up_kbps":1024}`, `{"up_kbps":-1,"down_kbps":5}`, `{"retention":{"last":3}}`, `{"retention":{}}`, `{"retention":null}`, `{"up_kbps":1e99}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if b, err := decodeBandwidthRequest(strings.NewReader(string(body))); err != nil {
			checkDecodeError(t, err)
		} else if err := b.Validate(); err != nil {
			t.Fatalf("accepted caps %+v: %v", b, err)
		}
		if r, err := decodeRetentionPreviewRequest(strings.NewReader(string(body))); err != nil {
			checkDecodeError(t, err)
		} else if err := r.Validate(); err != nil {
			t.Fatalf("accepted policy %+v: %v", r, err)
		}
	})
}

func FuzzPresetOf(f *testing.F) {
	for _, seed := range []string{"0 3 * * *", "15 * * * *", "30 22 * * 7", "@weekly", "1 2 3 4 5", "  ", "00 03 * * *", "0 3 * * 8"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		p := presetOf(expr)
		_ = scheduleWords(expr, "")
		if p.Preset == presetCustom {
			return
		}
		// A recognised preset writes back an expression with the same meaning.
		got, err := p.cron()
		if err != nil {
			t.Fatalf("presetOf(%q) = %+v, which does not write back: %v", expr, p, err)
		}
		if presetOf(got) != p && !(p.Minute != nil && presetOf(got).Minute != nil && *presetOf(got).Minute == *p.Minute) {
			t.Fatalf("presetOf(%q) = %+v; written back %q reads %+v", expr, p, got, presetOf(got))
		}
	})
}
