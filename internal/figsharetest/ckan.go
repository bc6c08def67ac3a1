package figsharetest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// CKAN is a strict fake of the part of CKAN's action API the figshare
// import calls: organization_show/create, package_show/create,
// resource_create (multipart with an upload, stored under Storage as
// CKAN stores it), package_patch and package_revise (the form DCOR 1.x's
// depot appends resources on S3 with: match__id and
// update__resources__extend, see revise). Every call needs Token in the
// Authorization header; unknown or missing fields are a validation
// error (409), as are ids that exist already.
type CKAN struct {
	Token    string
	Storage  string
	onCommit atomic.Pointer[func(action string)]

	mu       sync.Mutex
	orgs     map[string]map[string]any
	packages map[string]map[string]any // by id
	calls    map[string]int
	inflight sync.WaitGroup
}

// NewCKAN returns an empty fake CKAN.
func NewCKAN(token, storage string) *CKAN {
	return &CKAN{Token: token, Storage: storage, orgs: map[string]map[string]any{},
		packages: map[string]map[string]any{}, calls: map[string]int{}}
}

// Wait waits until no call is being processed (a cancelled client does
// not stop the server's work).
func (c *CKAN) Wait() { c.inflight.Wait() }

// Calls is the number of calls of action so far.
func (c *CKAN) Calls(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[action]
}

type ckanErr struct {
	status int
	typ    string
	msg    string
}

func (c *CKAN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.inflight.Add(1)
	defer c.inflight.Done()
	action, ok := strings.CutPrefix(r.URL.Path, "/api/3/action/")
	reply := func(status int, body map[string]any) {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}
	fail := func(e *ckanErr) {
		reply(e.status, map[string]any{"success": false, "error": map[string]any{"__type": e.typ, "message": e.msg}})
	}
	if !ok || r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<html><body>Not Found</body></html>")
		return
	}
	if r.Header.Get("Authorization") != c.Token {
		fail(&ckanErr{403, "Authorization Error", "Access denied: not authorized"})
		return
	}
	var in map[string]any
	var upload []byte
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			fail(&ckanErr{400, "Bad request", "JSON Error: " + err.Error()})
			return
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			fail(&ckanErr{400, "Bad request", err.Error()})
			return
		}
		in = map[string]any{}
		for k, v := range r.MultipartForm.Value {
			in[k] = v[0]
		}
		if fh := r.MultipartForm.File["upload"]; len(fh) == 1 {
			f, err := fh[0].Open()
			if err == nil {
				upload, _ = io.ReadAll(f)
				f.Close()
			}
			in["upload"] = fh[0].Filename
		}
	default:
		fail(&ckanErr{400, "Bad request", "unsupported Content-Type " + mt})
		return
	}
	c.mu.Lock()
	c.calls[action]++
	res, e := c.do(action, in, upload)
	c.mu.Unlock()
	if e != nil {
		fail(e)
		return
	}
	if f := c.onCommit.Load(); f != nil && action != "package_show" && action != "organization_show" {
		(*f)(action)
	}
	reply(200, map[string]any{"success": true, "result": res})
}

// fields checks in against required and allowed keys.
func fields(in map[string]any, required, allowed []string) *ckanErr {
	ok := map[string]bool{}
	for _, k := range append(required, allowed...) {
		ok[k] = true
	}
	for k := range in {
		if !ok[k] {
			return &ckanErr{409, "Validation Error", fmt.Sprintf("unexpected field %q", k)}
		}
	}
	for _, k := range required {
		if v, have := in[k]; !have || v == "" || v == nil {
			return &ckanErr{409, "Validation Error", fmt.Sprintf("%s: Missing value", k)}
		}
	}
	return nil
}

func (c *CKAN) findPackage(id string) map[string]any {
	if p, ok := c.packages[id]; ok {
		return p
	}
	for _, p := range c.packages {
		if p["name"] == id {
			return p
		}
	}
	return nil
}

func (c *CKAN) do(action string, in map[string]any, upload []byte) (any, *ckanErr) {
	notFound := &ckanErr{404, "Not Found Error", "Not found"}
	switch action {
	case "organization_show":
		if e := fields(in, []string{"id"}, nil); e != nil {
			return nil, e
		}
		if o, ok := c.orgs[in["id"].(string)]; ok {
			return o, nil
		}
		return nil, notFound
	case "organization_create":
		if e := fields(in, []string{"name", "title"}, []string{"description"}); e != nil {
			return nil, e
		}
		name := in["name"].(string)
		if _, ok := c.orgs[name]; ok {
			return nil, &ckanErr{409, "Validation Error", "Group name already exists in database"}
		}
		in["id"] = "0rg-" + name
		c.orgs[name] = in
		return in, nil
	case "package_show":
		if e := fields(in, []string{"id"}, nil); e != nil {
			return nil, e
		}
		if p := c.findPackage(in["id"].(string)); p != nil {
			return p, nil
		}
		return nil, notFound
	case "package_create":
		if e := fields(in, []string{"id", "name", "title", "owner_org", "license_id", "authors", "state"},
			[]string{"doi", "references", "notes", "private"}); e != nil {
			return nil, e
		}
		if _, ok := c.orgs[in["owner_org"].(string)]; !ok {
			return nil, &ckanErr{409, "Validation Error", "owner_org: Organization does not exist"}
		}
		if in["state"] != "draft" {
			return nil, &ckanErr{409, "Validation Error", "state: a new dataset must be a draft"}
		}
		if c.findPackage(in["id"].(string)) != nil || c.findPackage(in["name"].(string)) != nil {
			return nil, &ckanErr{409, "Validation Error", "name: That URL is already in use."}
		}
		in["resources"] = []any{}
		c.packages[in["id"].(string)] = in
		return in, nil
	case "resource_create":
		if e := fields(in, []string{"id", "package_id", "name", "upload", "sha256", "size"}, []string{"format"}); e != nil {
			return nil, e
		}
		p := c.findPackage(in["package_id"].(string))
		if p == nil {
			return nil, notFound
		}
		id := in["id"].(string)
		for _, q := range c.packages {
			for _, r := range q["resources"].([]any) {
				if r.(map[string]any)["id"] == id {
					return nil, &ckanErr{409, "Validation Error", "id: resource " + id + " exists"}
				}
			}
		}
		var size int64
		if _, err := fmt.Sscan(in["size"].(string), &size); err != nil {
			return nil, &ckanErr{409, "Validation Error", "size: Invalid integer"}
		}
		if len(in["sha256"].(string)) != 64 {
			return nil, &ckanErr{409, "Validation Error", "sha256: not 64 hex digits"}
		}
		res := map[string]any{"id": id, "package_id": p["id"], "name": in["upload"], "sha256": in["sha256"],
			"size": size, "format": in["format"], "url_type": "upload", "url": in["upload"]}
		if in["format"] == nil {
			res["format"] = ""
		}
		path := filepath.Join(c.Storage, "resources", id[0:3], id[3:6], id[6:])
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, &ckanErr{500, "Internal Server Error", err.Error()}
		}
		if err := os.WriteFile(path, upload, 0o644); err != nil {
			return nil, &ckanErr{500, "Internal Server Error", err.Error()}
		}
		p["resources"] = append(p["resources"].([]any), res)
		return res, nil
	case "package_revise":
		return c.revise(in)
	case "package_patch":
		if e := fields(in, []string{"id"}, []string{"state"}); e != nil {
			return nil, e
		}
		p := c.findPackage(in["id"].(string))
		if p == nil {
			return nil, notFound
		}
		if s, ok := in["state"]; ok {
			p["state"] = s
		}
		return p, nil
	}
	return nil, &ckanErr{400, "Bad request", "Action name not known: " + action}
}

// Snapshot is the fake's state as stable JSON: organizations and
// datasets with their resources, sorted.
func (c *CKAN) Snapshot() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for n := range c.orgs {
		names = append(names, n)
	}
	sort.Strings(names)
	var ids []string
	for id := range c.packages {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var pkgs []any
	for _, id := range ids {
		pkgs = append(pkgs, c.packages[id])
	}
	b, _ := json.MarshalIndent(map[string]any{"organizations": names, "packages": pkgs}, "", " ")
	return string(b)
}

// OnCommit sets the function called after a write was committed and
// before the answer is sent (a client killed there finds it done); nil:
// none. Safe while serving.
func (c *CKAN) OnCommit(f func(action string)) {
	if f == nil {
		c.onCommit.Store(nil)
		return
	}
	c.onCommit.Store(&f)
}
