package reset

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Solr is the search index of the site: ckan.ini's solr_url (the core,
// http://localhost:8983/solr/ckan), its credentials and ckan.site_id,
// which every document of this site carries in its site_id field
// (several CKAN sites may share one core).
type Solr struct {
	// URL is solr_url, the core's URL.
	URL string
	// User and Password are solr_user and solr_password (basic auth).
	User, Password string
	// SiteID is ckan.site_id.
	SiteID string
	// Client makes the requests (nil: a client with a 30 s timeout).
	Client *http.Client
}

// SiteQuery is the query of every document of this site, as
// `ckan search-index clear` deletes them: +site_id:"<site_id>".
func (s Solr) SiteQuery() string { return `+site_id:` + quoteTerm(s.SiteID) }

// DatasetQuery is the query of the datasets of this site.
func (s Solr) DatasetQuery() string { return s.SiteQuery() + ` +entity_type:package` }

// quoteTerm quotes a term for Solr's standard query parser.
func quoteTerm(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

func (s Solr) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// endpoint is the core's handler URL (select, update) with query.
func (s Solr) endpoint(handler string, q url.Values) (string, error) {
	u, err := url.Parse(strings.TrimRight(s.URL, "/") + "/" + handler)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("solr_url %q in ckan.ini is not an http(s) URL of the Solr core (http://localhost:8983/solr/ckan)", s.URL)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// solrReply is the JSON answer of Solr (wt=json).
type solrReply struct {
	ResponseHeader struct {
		Status int `json:"status"`
	} `json:"responseHeader"`
	Response *struct {
		NumFound int64 `json:"numFound"`
	} `json:"response"`
	Error *struct {
		Msg string `json:"msg"`
	} `json:"error"`
}

// do sends req and decodes Solr's JSON reply; a refusal is an error
// with Solr's own message.
func (s Solr) do(req *http.Request, what string) (*solrReply, error) {
	if s.User != "" {
		req.SetBasicAuth(s.User, s.Password)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %v (is Solr running? is solr_url in ckan.ini right?)", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: read the reply: %v", what, err)
	}
	var r solrReply
	jsonErr := json.Unmarshal(body, &r)
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		if jsonErr == nil && r.Error != nil && r.Error.Msg != "" {
			msg = r.Error.Msg
		}
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return nil, fmt.Errorf("%s: Solr answered %s: %s", what, resp.Status, msg)
	}
	if jsonErr != nil {
		return nil, fmt.Errorf("%s: the reply is not Solr's JSON: %v", what, jsonErr)
	}
	if r.ResponseHeader.Status != 0 {
		return nil, fmt.Errorf("%s: Solr answered status %d", what, r.ResponseHeader.Status)
	}
	return &r, nil
}

// Count counts the documents that match query (a filter query), through
// the core's select handler.
func (s Solr) Count(ctx context.Context, query string) (int64, error) {
	what := fmt.Sprintf("count the Solr documents %s at %s", query, s.URL)
	u, err := s.endpoint("select", url.Values{"q": {"*:*"}, "fq": {query}, "rows": {"0"}, "wt": {"json"}})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	r, err := s.do(req, what)
	if err != nil {
		return 0, err
	}
	if r.Response == nil {
		return 0, fmt.Errorf("%s: the reply has no response.numFound", what)
	}
	return r.Response.NumFound, nil
}

// Delete deletes the documents that match query and commits, as pysolr's
// delete(q=…) then commit() do for `ckan search-index clear`: two POSTs
// of XML update commands to the core's update handler.
func (s Solr) Delete(ctx context.Context, query string) error {
	var del bytes.Buffer
	del.WriteString("<delete><query>")
	if err := xml.EscapeText(&del, []byte(query)); err != nil {
		return err
	}
	del.WriteString("</query></delete>")
	if err := s.update(ctx, del.Bytes(), "delete the Solr documents "+query+" at "+s.URL); err != nil {
		return err
	}
	return s.update(ctx, []byte("<commit/>"), "commit the deletion of "+query+" at "+s.URL)
}

func (s Solr) update(ctx context.Context, body []byte, what string) error {
	u, err := s.endpoint("update", url.Values{"wt": {"json"}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	_, err = s.do(req, what)
	return err
}
