package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// apiClient calls the server's JSON API with an API token, as a script
// would.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(base, token string, insecure bool) *apiClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 64
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // --insecure: a loopback benchmark of a server with its own CA
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
}

// apiError is an answer other than 2xx.
type apiError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// do sends body (JSON, if not nil) and decodes a 2xx answer into out (if
// not nil). It returns how long the request took, to the end of the body.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) (time.Duration, error) {
	took, _, err := c.doHeader(ctx, method, path, body, out)
	return took, err
}

// doHeader is do, also returning the answer's header.
func (c *apiClient) doHeader(ctx context.Context, method, path string, body, out any) (time.Duration, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return time.Since(start), nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		return took, resp.Header, err
	}
	if resp.StatusCode/100 != 2 {
		return took, resp.Header, &apiError{Method: method, Path: path, Status: resp.StatusCode, Body: string(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return took, resp.Header, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return took, resp.Header, nil
}

// apiHost is what the loadgen reads of a host in GET /api/v1/hosts.
type apiHost struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Online      bool       `json:"online"`
	ConnectedAt *time.Time `json:"connected_at"`
}

// hostsPage is GET /api/v1/hosts's answer; a server that pages the list
// names the next page in one of the Next fields or a Link header.
type hostsPage struct {
	Hosts      []apiHost `json:"hosts"`
	Next       string    `json:"next"`
	NextCursor string    `json:"next_cursor"`
}

// linkNextRE finds rel="next" in a Link header (RFC 8288).
var linkNextRE = regexp.MustCompile(`<([^>]+)>\s*;[^,]*rel="?next"?`)

// pollPageSize is the page a poll of the whole fleet asks for: the
// server's largest (server.MaxHostPageSize), as a script that reads every
// host would — at 10,000 hosts 20 requests instead of the default's 200.
const pollPageSize = 500

// listHosts reads every host, following pages if the server pages; limit
// is the page size asked for (0: the server's default). It returns the
// time of all the requests together and of the slowest one.
func (c *apiClient) listHosts(ctx context.Context, limit int) (all []apiHost, total, slowest time.Duration, err error) {
	path := "/api/v1/hosts"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	for range 100000 {
		var page hostsPage
		took, header, err := c.doHeader(ctx, "GET", path, nil, &page)
		total += took
		slowest = max(slowest, took)
		if err != nil {
			return nil, total, slowest, err
		}
		all = append(all, page.Hosts...)
		// The server's own link first (it keeps the query), then a next
		// field, then the cursor (GET /api/v1/hosts?cursor=).
		next := ""
		if m := linkNextRE.FindStringSubmatch(header.Get("Link")); m != nil {
			next = m[1]
		}
		if next == "" {
			next = page.Next
		}
		if next == "" && page.NextCursor != "" {
			next = "/api/v1/hosts?cursor=" + url.QueryEscape(page.NextCursor)
		}
		if next == "" || len(page.Hosts) == 0 {
			break
		}
		if !strings.HasPrefix(next, "/") {
			if u, err := url.Parse(next); err == nil && u.Path != "" {
				next = u.RequestURI()
			} else {
				next = "/api/v1/hosts?after=" + url.QueryEscape(next)
			}
		}
		path = next
	}
	return all, total, slowest, nil
}

// apiJob is what the loadgen reads of a job.
type apiJob struct {
	ID       int64  `json:"id"`
	UID      string `json:"uid"`
	Status   string `json:"status"`
	Terminal bool   `json:"terminal"`
	LogLines int64  `json:"log_lines"`
}

// session signs in to the dashboard as a person would (the sign-in form
// with its CSRF cookie) and returns a client carrying the session cookie.
func (c *apiClient) session(ctx context.Context, user, password string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Transport: c.http.Transport, Jar: jar, Timeout: time.Minute}
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/login", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	u, _ := url.Parse(c.base + "/login")
	var csrf string
	for _, ck := range jar.Cookies(u) {
		if strings.Contains(ck.Name, "signin") || strings.Contains(ck.Name, "sign_in") || strings.Contains(ck.Name, "csrf") {
			csrf = ck.Value
		}
	}
	form := url.Values{"name": {user}, "password": {password}, "csrf_token": {csrf}, "next": {"/"}}
	req, _ = http.NewRequestWithContext(ctx, "POST", c.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = hc.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path == "/login" {
		return nil, fmt.Errorf("sign in as %s: HTTP %d at %s: %.200s", user, resp.StatusCode, resp.Request.URL.Path, body)
	}
	return hc, nil
}
