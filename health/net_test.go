package health

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/selfsigned"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// freePort is a TCP port on 127.0.0.1 nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// startRedis starts a real redis-server on a free port (with password
// requirepass when not ""); the returned stop ends it.
func startRedis(t *testing.T, requirepass string) (port int, stop func()) {
	t.Helper()
	bin := testtool.Need(t, "redis-server")
	port = freePort(t)
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir()}
	if requirepass != "" {
		args = append(args, "--requirepass", requirepass)
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port, stop
		}
		if time.Now().After(end) {
			t.Fatal("redis-server did not start")
		}
	}
}

// TestRedis: PING through the real redis-server, with and without a
// password; a wrong password, a stopped server, a server still loading
// and a port that is not Redis fail, each with its reason.
func TestRedis(t *testing.T) {
	port, stop := startRedis(t, "")
	url := fmt.Sprintf("redis://127.0.0.1:%d/1", port)
	check(t, "running", newHost(t, map[string]string{"ckan.redis.url": url}).config(), probeRedis, OK, "PONG", "database 1")

	pport, _ := startRedis(t, "s3cret pass")
	good := fmt.Sprintf("redis://:s3cret%%20pass@127.0.0.1:%d/0", pport)
	check(t, "password", newHost(t, map[string]string{"ckan.redis.url": good}).config(), probeRedis, OK, "PONG")
	bad := fmt.Sprintf("redis://:wrong@127.0.0.1:%d/0", pport)
	r := check(t, "wrong password", newHost(t, map[string]string{"ckan.redis.url": bad}).config(), probeRedis, Fail, "AUTH")
	if strings.Contains(r.Reason, "wrong") {
		t.Errorf("the reason shows the password: %q", r.Reason)
	}
	none := fmt.Sprintf("redis://127.0.0.1:%d/0", pport)
	check(t, "no password", newHost(t, map[string]string{"ckan.redis.url": none}).config(), probeRedis, Fail, "NOAUTH")

	stop()
	check(t, "stopped", newHost(t, map[string]string{"ckan.redis.url": url}).config(), probeRedis, Fail, "no connection", "refused")

	// a RESP responder that is loading its data set, and one that is not Redis
	for _, tc := range []struct{ answer, want string }{
		{"-LOADING Redis is loading the dataset in memory\r\n", "LOADING"},
		{"HTTP/1.1 400 Bad Request\r\n\r\n", "not a Redis server"},
	} {
		addr := respServer(t, tc.answer)
		check(t, tc.want, newHost(t, map[string]string{"ckan.redis.url": "redis://" + addr}).config(), probeRedis, Fail, tc.want)
	}
	check(t, "bad URL", newHost(t, map[string]string{"ckan.redis.url": "http://x"}).config(), probeRedis, Fail, "scheme")
}

// respServer answers every request line with answer.
func respServer(t *testing.T, answer string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					c.Write([]byte(answer))
				}
			}()
		}
	}()
	return l.Addr().String()
}

// TestPostgres: a real PostgreSQL: the connection and the database's
// size; a wrong password and a stopped server fail, without the password
// in the reason.
func TestPostgres(t *testing.T) {
	if pgtest.BinDir() == "" {
		testtool.Missing(t, "PostgreSQL is not installed (make test installs it)")
	}
	cl := pgtest.Start(t)
	u := cl.CreateDatabase(t, "ckan_health", "ckan_default", "pg pass")
	check(t, "running", newHost(t, map[string]string{"sqlalchemy.url": u}).config(), probePostgres, OK, "ckan_health", "MiB")
	wrong := strings.Replace(u, "pg%20pass", "nope", 1)
	if wrong == u {
		t.Fatalf("password not found in %s", u)
	}
	r := check(t, "wrong password", newHost(t, map[string]string{"sqlalchemy.url": wrong}).config(), probePostgres, Fail, "password authentication failed")
	if strings.Contains(r.Reason, "nope") {
		t.Errorf("reason shows the password: %q", r.Reason)
	}
	down := strings.Replace(u, fmt.Sprintf(":%d/", cl.Port), fmt.Sprintf(":%d/", freePort(t)), 1)
	check(t, "stopped", newHost(t, map[string]string{"sqlalchemy.url": down}).config(), probePostgres, Fail, "is PostgreSQL running")
	check(t, "unset", newHost(t, map[string]string{"x": "y"}).config(), probePostgres, Fail, "sets no sqlalchemy.url")
}

// tlsSite starts an HTTPS server for "localhost" with a self-signed
// certificate written at the host's site certificate path.
func tlsSite(t *testing.T, h *testHost, handler http.HandlerFunc) string {
	t.Helper()
	cert := filepath.Join(h.root, "etc/ssl/certs/localhost.cert")
	key := filepath.Join(h.root, "etc/ssl/private/localhost.key")
	if err := selfsigned.Write(cert, key, "localhost", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the other-certificate case's handshake error
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return "https://localhost:" + strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
}

func statusShow(version string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/3/action/status_show" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"success": true,
			"result": map[string]any{"ckan_version": version, "extensions": []string{"dcor_depot", "dcor_schemas"}}})
	}
}

// TestCKAN: status_show through ckan.site_url over TLS verified against
// the site's self-signed certificate; another certificate, an error
// page, a CKAN that runs an older version than installed and a stopped
// server change the state and reason.
func TestCKAN(t *testing.T) {
	h := newHost(t, nil)
	h.ini = map[string]string{"ckan.site_url": tlsSite(t, h, statusShow("2.11.5"))}
	c := h.config()
	c.versions["ckan"] = "2.11.5"
	check(t, "running", c, probeCKAN, OK, "CKAN 2.11.5 answers", "2 plugins")
	c.versions["ckan"] = "2.11.6"
	check(t, "old version runs", c, probeCKAN, Warn, "2.11.5 answers", "2.11.6 is installed", "restart")

	// the site's certificate is not the server's
	other := newHost(t, nil)
	url := tlsSite(t, other, statusShow("2.11.5"))
	h2 := newHost(t, map[string]string{"ckan.site_url": url})
	if err := selfsigned.Write(filepath.Join(h2.root, "etc/ssl/certs/localhost.cert"), filepath.Join(h2.root, "k"), "localhost", time.Hour); err != nil {
		t.Fatal(err)
	}
	check(t, "other certificate", h2.config(), probeCKAN, Fail, "certificate")

	h3 := newHost(t, nil)
	h3.ini = map[string]string{"ckan.site_url": tlsSite(t, h3, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
	})}
	check(t, "502", h3.config(), probeCKAN, Fail, "HTTP 502")
	h4 := newHost(t, nil)
	h4.ini = map[string]string{"ckan.site_url": tlsSite(t, h4, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"success": false, "error": {"message": "x"}}`)
	})}
	check(t, "success false", h4.config(), probeCKAN, Fail, "not a CKAN answer")
	h5 := newHost(t, map[string]string{"ckan.site_url": fmt.Sprintf("https://localhost:%d", freePort(t))})
	check(t, "stopped", h5.config(), probeCKAN, Fail, "refused")
	check(t, "unset", newHost(t, map[string]string{"x": "y"}).config(), probeCKAN, Fail, "no ckan.site_url")
}

// solrStandIn answers ping and select as a Solr core with n documents
// of site_id "dcor-site"; it records the select's fq.
func solrStandIn(t *testing.T, pingStatus int, fq *string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/solr/ckan/admin/ping", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(pingStatus)
		if pingStatus == 200 {
			fmt.Fprint(w, `{"responseHeader":{"status":0},"status":"OK"}`)
		} else {
			fmt.Fprint(w, `{"error":{"msg":"SolrCore 'ckan' is not available due to init failure","code":500}}`)
		}
	})
	mux.HandleFunc("/solr/ckan/select", func(w http.ResponseWriter, r *http.Request) {
		*fq = r.URL.Query().Get("fq")
		n := 0
		if *fq == `+site_id:"dcor-site"` && r.URL.Query().Get("q") == "*:*" {
			n = 7
		}
		fmt.Fprintf(w, `{"responseHeader":{"status":0},"response":{"numFound":%d,"start":0,"docs":[]}}`, n)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestSolr: ping and the count of this site's documents; a core that
// failed to load and a stopped Solr fail.
func TestSolr(t *testing.T) {
	var fq string
	srv := solrStandIn(t, 200, &fq)
	c := newHost(t, map[string]string{"solr_url": srv.URL + "/solr/ckan", "ckan.site_id": "dcor-site"}).config()
	check(t, "running", c, probeSolr, OK, "7 documents of site_id dcor-site")
	if fq != `+site_id:"dcor-site"` {
		t.Errorf("fq = %q", fq)
	}
	broken := solrStandIn(t, 500, &fq)
	check(t, "core down", newHost(t, map[string]string{"solr_url": broken.URL + "/solr/ckan"}).config(), probeSolr, Fail, "init failure")
	srv.Close()
	check(t, "stopped", c, probeSolr, Fail, "ping", "refused")
}

// TestUWSGI: an HTTP request on ckan-uwsgi.ini's http11-socket; a 500
// (no application), nothing listening, and a uwsgi-protocol socket.
func TestUWSGI(t *testing.T) {
	var status int = 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/3" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	h := newHost(t, map[string]string{})
	h.write(host.UWSGIIni, "[uwsgi]\n; comment\nhttp11-socket      = "+addr+"\nworkers = 4\n")
	c := h.config()
	check(t, "running", c, probeUWSGI, OK, "HTTP 200 on "+addr)
	status = 500
	check(t, "no application", c, probeUWSGI, Fail, "HTTP 500", "ckan-uwsgi.stderr.log")
	srv.Close()
	check(t, "stopped", c, probeUWSGI, Fail, "no HTTP answer", "refused")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h.write(host.UWSGIIni, "[uwsgi]\nsocket = "+l.Addr().String()+"\n")
	check(t, "uwsgi protocol", c, probeUWSGI, OK, "accepts connections")
	os.Remove(filepath.Join(h.root, host.UWSGIIni))
	check(t, "no ini", c, probeUWSGI, Fail, "cannot read /etc/ckan/default/ckan-uwsgi.ini")
}
