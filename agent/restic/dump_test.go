package restic

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

func TestDumpArgs(t *testing.T) {
	for _, tc := range []struct {
		q    DumpQuery
		want string
	}{
		{DumpQuery{Snapshot: "latest", Path: "/etc/hosts"}, "dump -- latest /etc/hosts"},
		{DumpQuery{Snapshot: "0123abcd", Path: "/home/ada/docs", Archive: "tar", Reroot: true}, "dump --archive=tar -- 0123abcd:/home/ada /docs"},
		{DumpQuery{Snapshot: "latest", Path: "/srv", Archive: "zip", Reroot: true}, "dump --archive=zip -- latest /srv"},
		{DumpQuery{Snapshot: "latest", Path: "/", Archive: "tar", Reroot: true}, "dump --archive=tar -- latest /"},
		{DumpQuery{Snapshot: "latest", Path: "/home/ada/docs", Archive: "zip"}, "dump --archive=zip -- latest /home/ada/docs"},
		{DumpQuery{Snapshot: "latest", Path: "/C/Users/ada", Archive: "tar", Reroot: true, Bandwidth: topics.Bandwidth{DownKBps: 512}},
			"dump --archive=tar --limit-download=512 -- latest:/C/Users /ada"},
	} {
		args, err := DumpArgs(tc.q)
		if err != nil || strings.Join(args, " ") != tc.want {
			t.Errorf("DumpArgs(%+v) = %q, %v; want %q", tc.q, args, err, tc.want)
		}
	}
	args, err := StatArgs(DumpQuery{Snapshot: "latest", Path: "/etc/hosts"})
	if err != nil || !slices.Equal(args, []string{"ls", "--json", "--", "latest", "/etc/hosts"}) {
		t.Errorf("StatArgs = %q, %v", args, err)
	}
	for _, bad := range []DumpQuery{
		{Snapshot: "latest; rm", Path: "/etc"},
		{Snapshot: "latest", Path: "etc"},
		{Snapshot: "latest", Path: `C:\Users`}, // the agent passes restic's form, /C/Users
		{Snapshot: "latest", Path: "/etc/../root"},
		{Snapshot: "latest", Path: "/etc", Archive: "rar"},
		{Snapshot: "latest", Path: "-/etc"},
	} {
		if _, err := DumpArgs(bad); !errors.Is(err, ErrInvalidOp) {
			t.Errorf("DumpArgs(%+v) = %v, want ErrInvalidOp", bad, err)
		}
	}
}

func TestStatNode(t *testing.T) {
	out := `{"time":"2026-12-05T08:58:27Z","tree":"53","paths":["/src"],"id":"e4ea47c018cd39d8c10e8babae6364208b4b072471b1a9196c638a4cee9a03b5","message_type":"snapshot","struct_type":"snapshot"}
{"name":"d","type":"dir","path":"/src/d","mode":2147484141,"message_type":"node","struct_type":"node"}
{"name":"a.txt","type":"file","path":"/src/d/a.txt","size":6,"message_type":"node","struct_type":"node"}
`
	n, err := StatNode(strings.NewReader(out), "/src/d")
	if !errors.Is(err, ErrEnough) || n == nil || n.Type != "dir" {
		t.Fatalf("StatNode(dir) = %+v, %v", n, err)
	}
	// restic before 0.15 says struct_type only.
	old := `{"name":"a.txt","type":"file","path":"/src/d/a.txt","size":6,"struct_type":"node"}` + "\n"
	n, err = StatNode(strings.NewReader(old), "/src/d/a.txt")
	if !errors.Is(err, ErrEnough) || n == nil || n.Type != "file" || n.Size != 6 {
		t.Fatalf("StatNode(file, old restic) = %+v, %v", n, err)
	}
	n, err = StatNode(strings.NewReader(out), "/src/nope")
	if err != nil || n != nil {
		t.Fatalf("StatNode(missing) = %+v, %v; want nil, nil", n, err)
	}
}

func FuzzStatNode(f *testing.F) {
	f.Add([]byte(`{"name":"a","type":"file","path":"/a","size":1,"message_type":"node"}`+"\n"), "/a")
	f.Add([]byte("not json\n{\"path\":\"/a\"}\n"), "/a")
	f.Add([]byte(strings.Repeat("x", 70<<10)+"\n"+`{"type":"dir","path":"/","struct_type":"node"}`), "/")
	f.Fuzz(func(t *testing.T, out []byte, path string) {
		n, err := StatNode(strings.NewReader(string(out)), path)
		if n != nil && (n.Path != path || !errors.Is(err, ErrEnough)) {
			t.Fatalf("StatNode found %+v (%v) for %q", n, err, path)
		}
		if n == nil && err != nil {
			t.Fatalf("StatNode found nothing and failed: %v", err)
		}
	})
}
