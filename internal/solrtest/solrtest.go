// Package solrtest is a small stand-in for one Solr core, for tests of
// what dcor asks Solr: the select handler (counting with q and fq) and
// the update handler (XML delete-by-query, delete-by-id and commit). It
// is strict where Solr is: a query that Solr's standard parser rejects
// (an unbalanced quote, an unknown field), an update without a content
// type or with a body that is not an update command, and a GET to the
// update handler are refused with Solr's status codes; deletions are
// visible only after a commit.
package solrtest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Doc is one document: field → value.
type Doc map[string]string

// Server is a running stand-in core.
type Server struct {
	// URL is the core's URL (…/solr/ckan), as solr_url in ckan.ini.
	URL string
	// User and Password, when set, are required (basic auth).
	User, Password string

	mu        sync.Mutex
	committed []Doc
	pending   []Doc // the index after uncommitted updates
	requests  []string
	srv       *httptest.Server
}

// fields are the fields of CKAN's schema that queries may name.
var fields = map[string]bool{"id": true, "site_id": true, "entity_type": true, "name": true, "state": true,
	"dataset_type": true, "index_id": true, "capacity": true, "organization": true}

// Start starts a stand-in core named core, closed when the test ends.
func Start(t testing.TB, core string) *Server {
	s := New(core)
	t.Cleanup(s.srv.Close)
	return s
}

// New starts a stand-in core named core; Close stops it.
func New(core string) *Server {
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("/solr/"+core+"/select", s.sel)
	mux.HandleFunc("/solr/"+core+"/update", s.update)
	mux.HandleFunc("/solr/"+core+"/update/", s.update)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/solr/" + core
	return s
}

// Add indexes docs and commits them.
func (s *Server) Add(docs ...Doc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, docs...)
	s.committed = append([]Doc(nil), s.pending...)
}

// Count counts the committed documents with field = value for every
// pair of fieldValues.
func (s *Server) Count(fieldValues ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.committed {
		ok := true
		for i := 0; i+1 < len(fieldValues); i += 2 {
			ok = ok && d[fieldValues[i]] == fieldValues[i+1]
		}
		if ok {
			n++
		}
	}
	return n
}

// Requests lists the requests served ("GET select q=… fq=…", "POST update <body>").
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Close stops the server (Solr down).
func (s *Server) Close() { s.srv.Close() }

func solrError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"responseHeader": map[string]any{"status": code},
		"error": map[string]any{"msg": msg, "code": code}})
}

func (s *Server) auth(w http.ResponseWriter, r *http.Request) bool {
	if s.User == "" {
		return true
	}
	u, p, ok := r.BasicAuth()
	if !ok || u != s.User || p != s.Password {
		w.Header().Set("WWW-Authenticate", `Basic realm="solr"`)
		http.Error(w, "require authentication", http.StatusUnauthorized)
		return false
	}
	return true
}

// clause is one +field:value of a query.
type clause struct{ field, value string }

// parse parses the subset of the standard query syntax dcor uses:
// *:*, or clauses field:"quoted" / field:term, each optionally with +.
func parse(q string) ([]clause, error) {
	q = strings.TrimSpace(q)
	if q == "*:*" {
		return nil, nil
	}
	var out []clause
	rest := q
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			break
		}
		rest = strings.TrimPrefix(rest, "+")
		i := strings.IndexByte(rest, ':')
		if i <= 0 {
			return nil, fmt.Errorf("org.apache.solr.search.SyntaxError: Cannot parse '%s': Encountered \"<EOF>\"", q)
		}
		field := rest[:i]
		if !fields[field] {
			return nil, fmt.Errorf("undefined field %s", field)
		}
		rest = rest[i+1:]
		var val strings.Builder
		if strings.HasPrefix(rest, `"`) {
			j, closed := 1, false
			for j < len(rest) {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					val.WriteByte(rest[j+1])
					j += 2
					continue
				}
				if c == '"' {
					closed = true
					j++
					break
				}
				val.WriteByte(c)
				j++
			}
			if !closed {
				return nil, fmt.Errorf("org.apache.solr.search.SyntaxError: Cannot parse '%s': Lexical error: Encountered: <EOF> after prefix \"\\\"%s\"", q, val.String())
			}
			rest = rest[j:]
		} else {
			j := strings.IndexByte(rest, ' ')
			if j < 0 {
				j = len(rest)
			}
			term := rest[:j]
			if term == "" || strings.ContainsAny(term, `"()`) {
				return nil, fmt.Errorf("org.apache.solr.search.SyntaxError: Cannot parse '%s'", q)
			}
			val.WriteString(term)
			rest = rest[j:]
		}
		out = append(out, clause{field, val.String()})
	}
	return out, nil
}

func matches(d Doc, cs []clause) bool {
	for _, c := range cs {
		if c.value == "*" {
			if _, ok := d[c.field]; !ok {
				return false
			}
			continue
		}
		if d[c.field] != c.value {
			return false
		}
	}
	return true
}

func (s *Server) sel(w http.ResponseWriter, r *http.Request) {
	if !s.auth(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		solrError(w, 400, err.Error())
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, fmt.Sprintf("%s select q=%s fq=%s", r.Method, r.Form.Get("q"), strings.Join(r.Form["fq"], "|")))
	s.mu.Unlock()
	if wt := r.Form.Get("wt"); wt != "" && wt != "json" {
		solrError(w, 400, "this stand-in answers wt=json only")
		return
	}
	var all []clause
	qs := append([]string{}, r.Form["fq"]...)
	if q := r.Form.Get("q"); q != "" {
		qs = append(qs, q)
	}
	for _, q := range qs {
		cs, err := parse(q)
		if err != nil {
			solrError(w, 400, err.Error())
			return
		}
		all = append(all, cs...)
	}
	s.mu.Lock()
	n := 0
	if r.Form.Get("q") != "" {
		for _, d := range s.committed {
			if matches(d, all) {
				n++
			}
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"responseHeader": map[string]any{"status": 0},
		"response": map[string]any{"numFound": n, "start": 0, "docs": []any{}}})
}

// updateXML is the XML update commands the stand-in understands.
type updateXML struct {
	XMLName xml.Name
	Queries []string `xml:"query"`
	IDs     []string `xml:"id"`
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	if !s.auth(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		solrError(w, 400, "missing content stream")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		solrError(w, 400, err.Error())
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, "POST update "+r.URL.RawQuery+" "+string(body))
	s.mu.Unlock()
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	switch strings.TrimSpace(ct) {
	case "text/xml", "application/xml":
	case "":
		solrError(w, 400, "Missing ContentType")
		return
	default:
		solrError(w, 415, "Unsupported ContentType: "+ct+" Not in: [application/xml, text/xml, …]")
		return
	}
	var cmd updateXML
	if err := xml.Unmarshal(body, &cmd); err != nil {
		solrError(w, 400, "Unexpected EOF in prolog / "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch cmd.XMLName.Local {
	case "delete":
		if len(cmd.Queries)+len(cmd.IDs) == 0 {
			solrError(w, 400, "missing id or query in <delete>")
			return
		}
		for _, q := range cmd.Queries {
			cs, err := parse(q)
			if err != nil {
				solrError(w, 400, err.Error())
				return
			}
			kept := s.pending[:0:0]
			for _, d := range s.pending {
				if !matches(d, cs) {
					kept = append(kept, d)
				}
			}
			s.pending = kept
		}
		for _, id := range cmd.IDs {
			kept := s.pending[:0:0]
			for _, d := range s.pending {
				if d["id"] != id {
					kept = append(kept, d)
				}
			}
			s.pending = kept
		}
	case "commit":
		s.committed = append([]Doc(nil), s.pending...)
	default:
		solrError(w, 400, "Unexpected <"+cmd.XMLName.Local+"> tag without an 'add', 'commit', 'delete'...")
		return
	}
	if r.URL.Query().Get("commit") == "true" {
		s.committed = append([]Doc(nil), s.pending...)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"responseHeader": map[string]any{"status": 0, "QTime": 1}})
}
