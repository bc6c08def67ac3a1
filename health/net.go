package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/bytesize"
)

// netReason is err for people: without the request's method and URL
// that net/http puts before the cause.
func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return noAnswer
	}
	return err.Error()
}

func probeHTTPS(ctx context.Context, c *config) []Result {
	const name = "https"
	addrs := []string{"127.0.0.1:443"}
	if f := c.site.FQDN; f != "" {
		addrs = append(addrs, net.JoinHostPort(f, "443"))
	}
	var errs []string
	for _, a := range addrs {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			conn.Close()
			return result(name, OK, "nginx listens on %s", a)
		}
		errs = append(errs, netReason(err))
	}
	return result(name, Fail, "nothing listens on port 443: %s (is nginx running? `systemctl start nginx`)", strings.Join(errs, "; "))
}

// uwsgiSocket reads the socket that nginx passes requests to from
// ckan-uwsgi.ini's [uwsgi] section: http11-socket, http-socket or socket
// (the uwsgi protocol); http is false for the latter.
func uwsgiSocket(c *config) (network, addr string, isHTTP bool, err error) {
	data, err := os.ReadFile(c.Host.Path(host.UWSGIIni))
	if err != nil {
		return "", "", false, fmt.Errorf("cannot read %s: %v", host.UWSGIIni, hostText(c.Host, err.Error()))
	}
	keys := map[string]string{}
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[] ")
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "uwsgi" {
			k = strings.TrimSpace(k)
			if _, seen := keys[k]; !seen {
				keys[k] = strings.TrimSpace(v)
			}
		}
	}
	for _, k := range []string{"http11-socket", "http-socket", "socket", "uwsgi-socket"} {
		v := keys[k]
		if v == "" {
			continue
		}
		isHTTP = strings.HasPrefix(k, "http")
		if p, ok := strings.CutPrefix(v, "unix:"); ok || strings.HasPrefix(v, "/") {
			if !ok {
				p = v
			}
			return "unix", p, isHTTP, nil
		}
		h, port, err := net.SplitHostPort(v)
		if err != nil {
			return "", "", false, fmt.Errorf("%s = %s in %s: not host:port", k, v, host.UWSGIIni)
		}
		if h == "" || h == "0.0.0.0" || h == "*" {
			h = "127.0.0.1"
		}
		return "tcp", net.JoinHostPort(h, port), isHTTP, nil
	}
	return "", "", false, fmt.Errorf("%s sets no http11-socket, http-socket or socket", host.UWSGIIni)
}

// probeUWSGI sends uWSGI an HTTP request on its socket (GET /api/3,
// which CKAN answers without touching the database); with a uwsgi
// protocol socket it only connects.
func probeUWSGI(ctx context.Context, c *config) []Result {
	const name = "uwsgi"
	network, addr, isHTTP, err := uwsgiSocket(c)
	if err != nil {
		return result(name, Fail, "%v", err)
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	if !isHTTP {
		conn, err := dial(ctx, "", "")
		if err != nil {
			return result(name, Fail, "no connection to %s: %s (is ckan-uwsgi running?)", addr, netReason(err))
		}
		conn.Close()
		return result(name, OK, "accepts connections on %s", addr)
	}
	tr := &http.Transport{DialContext: dial, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hostName := c.site.FQDNOrDefault()
	if u, err := url.Parse(c.ini["ckan.site_url"]); err == nil && u.Host != "" {
		hostName = u.Host
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostName+"/api/3", nil)
	if err != nil {
		return result(name, Fail, "%v", err)
	}
	req.Header.Set("X-Forwarded-Proto", "https")
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return result(name, Fail, "no HTTP answer on %s: %s (is ckan-uwsgi running?)", addr, netReason(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return result(name, Fail, "answers HTTP %s on %s: CKAN does not run in it (see /var/log/ckan/ckan-uwsgi.stderr.log)", resp.Status, addr)
	}
	return result(name, OK, "answers HTTP %d on %s", resp.StatusCode, addr)
}

// siteRoots are the roots that the site's certificate is verified
// against: the certificate itself when it is self-signed (as DCOR-Aid
// trusts it), else the system's roots with the site's chain added.
func siteRoots(c *config) *x509.CertPool {
	var certs []*x509.Certificate
	if data, err := os.ReadFile(c.Host.Path(c.site.CertPath())); err == nil {
		for rest := data; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			if cert, err := x509.ParseCertificate(b.Bytes); err == nil {
				certs = append(certs, cert)
			}
		}
	}
	if len(certs) > 0 && bytes.Equal(certs[0].RawIssuer, certs[0].RawSubject) &&
		certs[0].CheckSignature(certs[0].SignatureAlgorithm, certs[0].RawTBSCertificate, certs[0].Signature) == nil {
		pool := x509.NewCertPool()
		pool.AddCert(certs[0])
		return pool
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	return pool
}

// probeCKAN calls status_show through ckan.site_url (nginx, TLS).
func probeCKAN(ctx context.Context, c *config) []Result {
	const name = "ckan"
	siteURL := strings.TrimRight(c.ini["ckan.site_url"], "/")
	if siteURL == "" {
		return result(name, Fail, "ckan.ini sets no ckan.site_url")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: siteRoots(c)}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	endpoint := siteURL + "/api/3/action/status_show"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return result(name, Fail, "ckan.site_url %s: %v", siteURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return result(name, Fail, "status_show at %s: %s", siteURL, netReason(err))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var doc struct {
		Success bool `json:"success"`
		Result  struct {
			CKANVersion string   `json:"ckan_version"`
			Extensions  []string `json:"extensions"`
		} `json:"result"`
	}
	if resp.StatusCode != http.StatusOK {
		return result(name, Fail, "status_show at %s: HTTP %s", siteURL, resp.Status)
	}
	if err := json.Unmarshal(data, &doc); err != nil || !doc.Success {
		return result(name, Fail, "status_show at %s: not a CKAN answer (%.80q)", siteURL, data)
	}
	running := doc.Result.CKANVersion
	if inst := c.versions["ckan"]; inst != "" && running != inst {
		return result(name, Warn, "CKAN %s answers at %s but %s is installed: restart it (`supervisorctl restart ckan-uwsgi:*`)", running, siteURL, inst)
	}
	return result(name, OK, "CKAN %s answers at %s (%d plugins)", running, siteURL, len(doc.Result.Extensions))
}

func probePostgres(ctx context.Context, c *config) []Result {
	const name = "postgresql"
	u, err := ckandb.IniURL(c.get, c.CKANIni)
	if err != nil {
		return result(name, Fail, "%v", err)
	}
	db, err := ckandb.Open(ctx, u)
	if err != nil {
		return result(name, Fail, "%v", err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	size, err := db.Size(ctx)
	if err != nil {
		return result(name, Fail, "%v", err)
	}
	return result(name, OK, "%s: %s", db, bytesize.Format(size))
}

// redisTarget is where ckan.redis.url points.
type redisTarget struct {
	network, addr  string
	tls            bool
	user, password string
	db             int
}

// parseRedisURL parses redis://[[user]:password@]host[:port][/db],
// rediss:// (TLS) and unix:///path[?db=N] as redis-py does.
func parseRedisURL(s string) (*redisTarget, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("ckan.redis.url is not a URL")
	}
	t := &redisTarget{network: "tcp"}
	if u.User != nil {
		t.user = u.User.Username()
		t.password, _ = u.User.Password()
	}
	dbs := u.Query().Get("db")
	switch u.Scheme {
	case "redis", "rediss":
		t.tls = u.Scheme == "rediss"
		h, port := u.Hostname(), u.Port()
		if h == "" {
			h = "localhost"
		}
		if port == "" {
			port = "6379"
		}
		t.addr = net.JoinHostPort(h, port)
		if p := strings.Trim(u.Path, "/"); p != "" {
			dbs = p
		}
	case "unix":
		t.network, t.addr = "unix", u.Path
	default:
		return nil, fmt.Errorf("ckan.redis.url: scheme %q is not redis://, rediss:// or unix://", u.Scheme)
	}
	if dbs != "" {
		if t.db, err = strconv.Atoi(dbs); err != nil || t.db < 0 {
			return nil, fmt.Errorf("ckan.redis.url: database %q is not a number", dbs)
		}
	}
	return t, nil
}

// probeRedis sends PING (after AUTH and SELECT as CKAN's redis client
// does) in RESP over the connection ckan.redis.url names.
func probeRedis(ctx context.Context, c *config) []Result {
	const name = "redis"
	raw := c.ini["ckan.redis.url"]
	if raw == "" {
		raw = "redis://localhost:6379/0" // CKAN's default
	}
	t, err := parseRedisURL(raw)
	if err != nil {
		return result(name, Fail, "%v", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, t.network, t.addr)
	if err != nil {
		return result(name, Fail, "no connection to %s: %s (is redis-server running?)", t.addr, netReason(err))
	}
	defer conn.Close()
	if t.tls {
		h, _, _ := net.SplitHostPort(t.addr)
		tc := tls.Client(conn, &tls.Config{ServerName: h})
		if err := tc.HandshakeContext(ctx); err != nil {
			return result(name, Fail, "TLS with %s: %v", t.addr, err)
		}
		conn = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	cmd := func(args ...string) (string, error) {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := io.WriteString(conn, b.String()); err != nil {
			return "", err
		}
		return readRESP(r)
	}
	if t.password != "" {
		args := []string{"AUTH", t.password}
		if t.user != "" {
			args = []string{"AUTH", t.user, t.password}
		}
		if _, err := cmd(args...); err != nil {
			return result(name, Fail, "AUTH at %s: %s (check the password in ckan.redis.url)", t.addr, redisReason(err, t.password))
		}
	}
	if t.db != 0 {
		if _, err := cmd("SELECT", strconv.Itoa(t.db)); err != nil {
			return result(name, Fail, "SELECT %d at %s: %s", t.db, t.addr, redisReason(err, t.password))
		}
	}
	start := time.Now()
	reply, err := cmd("PING")
	if err != nil {
		return result(name, Fail, "PING at %s: %s", t.addr, redisReason(err, t.password))
	}
	if reply != "PONG" {
		return result(name, Fail, "PING at %s: answered %q, not PONG", t.addr, reply)
	}
	return result(name, OK, "PONG from %s (database %d) in %s", t.addr, t.db, time.Since(start).Round(10*time.Microsecond))
}

// redisError is an error reply ("-ERR …").
type redisError string

func (e redisError) Error() string { return string(e) }

// redisReason is err without the password.
func redisReason(err error, password string) string {
	s := netReason(err)
	if password != "" {
		s = strings.ReplaceAll(s, password, "****")
	}
	return s
}

// readRESP reads one reply: a simple string, an error, an integer or a
// bulk string (what PING, AUTH and SELECT answer).
func readRESP(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", errors.New("the server closed the connection")
		}
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply: not a Redis server")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", redisError(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n > 1<<20 {
			return "", fmt.Errorf("bad bulk reply %q: not a Redis server", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %.40q: not a Redis server", line)
}

// probeSolr pings the core solr_url names and counts the documents of
// this site (ckan.site_id).
func probeSolr(ctx context.Context, c *config) []Result {
	const name = "solr"
	core := strings.TrimRight(c.ini["solr_url"], "/")
	if core == "" {
		return result(name, Fail, "ckan.ini sets no solr_url")
	}
	siteID := c.ini["ckan.site_id"]
	if siteID == "" {
		siteID = "default"
	}
	get := func(path string, q url.Values, into any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, core+path+"?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		if u := c.ini["solr_user"]; u != "" {
			req.SetBasicAuth(u, c.ini["solr_password"])
		}
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return errors.New(netReason(err))
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			var e struct {
				Error struct{ Msg string } `json:"error"`
			}
			if json.Unmarshal(data, &e) == nil && e.Error.Msg != "" {
				return fmt.Errorf("HTTP %s: %s", resp.Status, e.Error.Msg)
			}
			return fmt.Errorf("HTTP %s", resp.Status)
		}
		if err := json.Unmarshal(data, into); err != nil {
			return fmt.Errorf("not a Solr answer: %.80q", data)
		}
		return nil
	}
	var ping struct {
		Status string `json:"status"`
	}
	if err := get("/admin/ping", url.Values{"wt": {"json"}}, &ping); err != nil {
		return result(name, Fail, "ping of %s: %v (is Solr running?)", core, err)
	}
	if ping.Status != "OK" {
		return result(name, Fail, "ping of %s: status %q", core, ping.Status)
	}
	var sel struct {
		Response struct {
			NumFound int64 `json:"numFound"`
		} `json:"response"`
	}
	q := url.Values{"q": {"*:*"}, "fq": {`+site_id:"` + strings.ReplaceAll(siteID, `"`, `\"`) + `"`}, "rows": {"0"}, "wt": {"json"}}
	if err := get("/select", q, &sel); err != nil {
		return result(name, Fail, "counting the documents of site_id %s in %s: %v", siteID, core, err)
	}
	return result(name, OK, "%s answers; %d documents of site_id %s", core, sel.Response.NumFound, siteID)
}
