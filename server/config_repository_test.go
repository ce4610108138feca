package server_test

import (
	"github.com/restic-manager/restic-manager/server"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/topics"
)

func TestSetRepositorySealsQueuesInitAndSendsConfig(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	const urlSecret, envSecret = "url-pass-7731", "aws-secret-99xq"
	in := server.RepositoryInput{URL: "s3:https://backup:" + urlSecret + "@minio.example:9000/bucket", Password: testRepoPassword,
		Env: map[string]string{"AWS_SECRET_ACCESS_KEY": envSecret, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"}}
	j, err := f.s.SetRepository(ctx, f.admin, f.host, in)
	if err != nil {
		t.Fatal(err)
	}
	if j.Kind != topics.JobInit || j.Status != topics.JobQueued || j.Version != 1 || !topics.ValidJobID(j.UID) || j.CreatedBy != "ada" {
		t.Fatalf("init job: %+v", j)
	}
	st, err := f.s.GetRepository(ctx, f.host)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != server.RepoInitializing || st.InitJobID != j.ID || st.ConfigVersion != 1 || st.AppliedVersion != 0 ||
		st.URL != "s3:https://backup:***@minio.example:9000/bucket" ||
		strings.Join(st.EnvNames, ",") != "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY" || st.UpdatedAt == nil {
		t.Fatalf("repository status: %+v", st)
	}
	// The config went out at once (QoS 1, not retained), with the secrets:
	// it travels only in the host's own session. The host is offline, so
	// no command was sent.
	cfgs := f.agent.Configs(t, f.pub)
	if len(cfgs) != 1 || cfgs[0].Version != 1 || cfgs[0].Repository == nil || cfgs[0].Repository.Password != testRepoPassword ||
		cfgs[0].Repository.Env["AWS_SECRET_ACCESS_KEY"] != envSecret || cfgs[0].Repository.URL != in.URL {
		t.Fatalf("configs: %+v", cfgs)
	}
	if m := f.pub.On(topics.ConfigTopic(f.host)); m[0].QoS != 1 {
		t.Fatalf("config QoS %d", m[0].QoS)
	}
	if cmds := f.agent.Commands(t, f.pub); len(cmds) != 0 {
		t.Fatalf("commands to an offline host: %+v", cmds)
	}
	// Audited without a secret.
	audit, err := f.s.ListAudit(ctx, server.AuditFilter{Action: "repository.set"})
	if err != nil || len(audit) != 1 {
		t.Fatalf("audit: %v %+v", err, audit)
	}
	for _, secret := range []string{urlSecret, envSecret, testRepoPassword} {
		if strings.Contains(audit[0].Details, secret) {
			t.Fatalf("audit details hold a secret: %s", audit[0].Details)
		}
	}
	// The sealed row is bound to its host: copied to another host it does not open.
	other := enrollTestHost(t, f.s, "web-2")
	if _, err := f.s.DB().Exec(`INSERT INTO repositories (host_id, sealed, url, state, updated_at)
		SELECT ?, sealed, url, state, updated_at FROM repositories WHERE host_id = ?`, other, f.host); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.DB().Exec(`UPDATE hosts SET config_version = 1 WHERE id = ?`, other); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.HostConfig(ctx, other); err == nil {
		t.Fatal("a repository sealed for one host opened for another")
	}
	// No secret anywhere in the store.
	for where, data := range storedData(t, f.s) {
		for _, secret := range []string{urlSecret, envSecret, testRepoPassword} {
			if containsSecret(data, []byte(secret)) {
				t.Errorf("%s holds %q in plaintext", where, secret)
			}
		}
	}
}

func TestSetRepositoryRefusesBadInput(t *testing.T) {
	f := newJobsFixture(t)
	const secret = "s3cr3t-never-echoed"
	for name, in := range map[string]server.RepositoryInput{
		"relative path":     {URL: "backups/restic", Password: secret},
		"unknown scheme":    {URL: "ftp://" + secret + "@host/x", Password: secret},
		"empty scheme rest": {URL: "s3:", Password: secret},
		"no password":       {URL: "/srv/restic"},
		"password newline":  {URL: "/srv/restic", Password: secret + "\nx"},
		"env not allowed":   {URL: "/srv/restic", Password: secret, Env: map[string]string{"LD_PRELOAD": secret}},
		"env lower case":    {URL: "/srv/restic", Password: secret, Env: map[string]string{"aws_secret": secret}},
	} {
		_, err := f.s.SetRepository(t.Context(), f.admin, f.host, in)
		if server.ErrorCodeOf(err) != server.CodeInvalid {
			t.Errorf("%s: err = %v, want invalid", name, err)
			continue
		}
		msg := server.PublicMessage(err)
		if strings.Contains(msg, secret) || !strings.HasSuffix(msg, ".") || msg[0] < 'A' || msg[0] > 'Z' {
			t.Errorf("%s: message %q is not one clean sentence without the secret", name, msg)
		}
	}
	st, err := f.s.GetRepository(t.Context(), f.host)
	if err != nil || st.State != server.RepoNone || st.ConfigVersion != 0 || f.countJobs(t) != 0 {
		t.Fatalf("bad input stored something: %+v %v, %d jobs", st, err, f.countJobs(t))
	}
	if len(f.pub.On(topics.ConfigTopic(f.host))) != 0 {
		t.Fatal("bad input published a config")
	}
	if _, err := f.s.SetRepository(t.Context(), f.admin, "h_nosuchhost", server.RepositoryInput{URL: "/x", Password: "p"}); server.ErrorCodeOf(err) != server.CodeNotFound {
		t.Fatalf("unknown host: %v", err)
	}
}

func TestRepositoryStateFollowsInitJob(t *testing.T) {
	f := newJobsFixture(t)
	ctx := t.Context()
	j := f.setRepo(t)
	// The agent comes online with no config: it gets the config and the init command.
	f.agent.Connect(t, 0)
	if cfgs := f.agent.Configs(t, f.pub); len(cfgs) != 2 || cfgs[1].Version != 1 {
		t.Fatalf("config not resent after an older hello: %+v", cfgs)
	}
	cmds := f.agent.Commands(t, f.pub)
	if len(cmds) != 1 || cmds[0].Action != topics.CmdRun || cmds[0].Job != j.UID || cmds[0].ConfigVersion != 1 ||
		cmds[0].Spec.Kind != topics.JobInit {
		t.Fatalf("init command: %+v", cmds)
	}
	f.finish(t, j.UID, topics.JobSucceeded, &topics.JobResult{ExitCode: intp(0), AlreadyInitialized: true,
		RepositoryID: "0123456789abcdef"})
	st, _ := f.s.GetRepository(ctx, f.host)
	if st.State != server.RepoReady || st.InitializedAt == nil || st.InitReason != "" {
		t.Fatalf("after init succeeded: %+v", st)
	}

	// Re-init: admin only, the name typed out.
	if _, err := f.s.ReinitRepository(ctx, f.operator, f.host, "web-1"); server.ErrorCodeOf(err) != server.CodeForbidden {
		t.Fatalf("operator re-init: %v", err)
	}
	if _, err := f.s.ReinitRepository(ctx, f.admin, f.host, "web-2"); server.ErrorCodeOf(err) != server.CodeInvalid {
		t.Fatalf("re-init with the wrong name: %v", err)
	}
	re, err := f.s.ReinitRepository(ctx, f.admin, f.host, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.s.GetRepository(ctx, f.host); st.State != server.RepoInitializing || st.InitJobID != re.ID || st.ConfigVersion != 1 {
		t.Fatalf("after re-init: %+v", st)
	}
	if audit, _ := f.s.ListAudit(ctx, server.AuditFilter{Action: "repository.reinit"}); len(audit) != 1 {
		t.Fatalf("re-init not audited: %+v", audit)
	}
	// Online: the command went out at once.
	if cmds := f.agent.Commands(t, f.pub); cmds[len(cmds)-1].Job != re.UID {
		t.Fatalf("re-init command not sent: %+v", cmds)
	}
	const why = "restic refused: the remote is not empty; clear it by hand."
	f.finish(t, re.UID, topics.JobFailed, &topics.JobResult{ExitCode: intp(1), Reason: why})
	st, _ = f.s.GetRepository(ctx, f.host)
	if st.State != server.RepoFailed || st.InitReason != why || st.InitJobID != re.ID {
		t.Fatalf("after init failed: %+v", st)
	}
	// A failed init does not stop jobs: they say what is wrong themselves.
	if _, err := f.s.CreateJob(ctx, f.operator, f.host, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobUnlock}}); err != nil {
		t.Fatalf("unlock with a failed repository: %v", err)
	}
	if st, _ := f.s.GetRepository(ctx, f.host); st.State != server.RepoFailed {
		t.Fatalf("another kind of job moved the repository: %+v", st)
	}
	again, err := f.s.CreateJob(ctx, f.operator, f.host, server.JobRequest{Spec: topics.JobSpec{Kind: topics.JobInit}})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.s.GetRepository(ctx, f.host); st.State != server.RepoInitializing || st.InitJobID != again.ID {
		t.Fatalf("a new init job is not followed: %+v", st)
	}
}

func TestRedactRepositoryURL(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/restic":                          "/srv/restic",
		"sftp:user@host:/srv/restic":           "sftp:user@host:/srv/restic",
		"rest:https://u:p@host:8000/repo":      "rest:https://u:***@host:8000/repo",
		"rest:https://u@host/repo":             "rest:https://u@host/repo",
		"s3:https://a:b@c@host/bucket":         "s3:https://a:***@host/bucket",
		"rest:https://host/repo?token=abc":     "rest:https://host/repo?***",
		"rest:http://u:p@host":                 "rest:http://u:***@host",
		"s3:s3.amazonaws.com/bucket/path@x:yz": "s3:s3.amazonaws.com/bucket/path@x:yz",
	} {
		if got := server.RedactRepositoryURL(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
