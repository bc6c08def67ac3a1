package figshare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
)

// CKAN calls CKAN's action API (/api/3/action/<action>) with an API token.
type CKAN struct {
	// URL is the site's URL (ckan.site_url).
	URL string
	// Token is the API token sent in the Authorization header.
	Token string
	// HTTP is the HTTP client (nil: http.DefaultClient).
	HTTP *http.Client
}

// ErrNotFound marks an object CKAN does not know (HTTP 404, "Not Found
// Error").
var ErrNotFound = errors.New("not found")

// actionError is the error of CKAN's {"success": false, "error": {...}}:
// __type, message, and for a Validation Error the fields and their
// complaints.
type actionError map[string]any

func (e actionError) typ() string { s, _ := e["__type"].(string); return s }

// String is the error in one line: type, message, field complaints.
func (e actionError) String() string {
	msg := e.typ()
	if m, _ := e["message"].(string); m != "" {
		msg += ": " + m
	}
	rest := map[string]any{}
	for k, v := range e {
		if k != "__type" && k != "message" {
			rest[k] = v
		}
	}
	if len(rest) > 0 {
		b, _ := json.Marshal(rest)
		msg += " " + string(b)
	}
	return msg
}

// Call runs action with body (a JSON object, or a *multipart.Writer's
// output when contentType is given) and decodes the result into out.
func (c *CKAN) call(ctx context.Context, action string, body io.Reader, contentType string, out any) error {
	url := strings.TrimRight(c.URL, "/") + "/api/3/action/" + action
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return fmt.Errorf("CKAN %s: %w", action, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("CKAN %s at %s: %w", action, c.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("CKAN %s: %w", action, err)
	}
	if isHTML(resp.Header, data) {
		return fmt.Errorf("CKAN %s at %s: HTTP %s with an HTML page instead of JSON (is --ckan-url the CKAN site?)", action, c.URL, resp.Status)
	}
	var doc struct {
		Success bool            `json:"success"`
		Result  json.RawMessage `json:"result"`
		Error   actionError     `json:"error"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("CKAN %s at %s: HTTP %s, not CKAN's JSON: %.200q", action, c.URL, resp.Status, data)
	}
	if !doc.Success {
		msg := resp.Status
		if doc.Error != nil {
			msg = doc.Error.String()
		}
		if resp.StatusCode == http.StatusNotFound || doc.Error.typ() == "Not Found Error" {
			return fmt.Errorf("CKAN %s: %w (%s)", action, ErrNotFound, msg)
		}
		if resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("CKAN %s: %s (the API token is not a sysadmin's, or it was revoked)", action, msg)
		}
		return fmt.Errorf("CKAN %s: %s", action, msg)
	}
	if out != nil {
		if err := json.Unmarshal(doc.Result, out); err != nil {
			return fmt.Errorf("CKAN %s: unexpected result: %v", action, err)
		}
	}
	return nil
}

// Action runs action with the JSON body in and decodes its result into out.
func (c *CKAN) Action(ctx context.Context, action string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.call(ctx, action, bytes.NewReader(b), "application/json", out)
}

// Package is the part of package_show's result the import reads.
type Package struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	State     string     `json:"state"`
	Resources []Resource `json:"resources"`
}

// Resource is the part of a resource's dictionary the import reads.
type Resource struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Format string `json:"format"`
}

// PackageShow returns the dataset called (or with id) id, or an error
// wrapping ErrNotFound.
func (c *CKAN) PackageShow(ctx context.Context, id string) (*Package, error) {
	var p Package
	if err := c.Action(ctx, "package_show", map[string]any{"id": id}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// DummyBytes is the content of the placeholder uploaded with
// resource_create before its path becomes a symlink (the depot's
// DUMMY_BYTES).
var DummyBytes = []byte("[Data import pending]")

// NewResource is what resource_create gets for one file.
type NewResource struct {
	ID, PackageID, Name, SHA256, Format string
	Size                                int64
}

// ResourceCreate creates the resource as DCOR's depot did: with the
// placeholder uploaded under the file's name, so that CKAN records an
// upload whose file the import then replaces by a symlink.
func (c *CKAN) ResourceCreate(ctx context.Context, r NewResource) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields := [][2]string{{"id", r.ID}, {"package_id", r.PackageID}, {"name", r.Name},
		{"sha256", r.SHA256}, {"size", fmt.Sprint(r.Size)}}
	if r.Format != "" {
		fields = append(fields, [2]string{"format", r.Format})
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	fw, err := mw.CreateFormFile("upload", r.Name)
	if err != nil {
		return err
	}
	fw.Write(DummyBytes)
	if err := mw.Close(); err != nil {
		return err
	}
	return c.call(ctx, "resource_create", &buf, mw.FormDataContentType(), nil)
}
