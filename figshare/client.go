package figshare

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultAPI is figshare's API.
const DefaultAPI = "https://api.figshare.com/v2"

// UserAgent is the browser User-Agent the client sends: figshare blocks
// clients it takes for robots (the depot sends Firefox's headers since
// 1.0.4).
const UserAgent = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0"

// Client talks to figshare's API and downloads its files.
type Client struct {
	// API is the API's base URL (DefaultAPI).
	API string
	// HTTP is the HTTP client (nil: a client without overall timeout;
	// requests honour their context).
	HTTP *http.Client
	// Attempts is how often a request is tried (default 6); Backoff the
	// first wait between attempts, doubled each time (default 1 s, at
	// most 30 s).
	Attempts int
	Backoff  time.Duration
	// Progress, when set, is called with the bytes of a download as they
	// arrive.
	Progress func(n int64)
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) attempts() int {
	if c.Attempts > 0 {
		return c.Attempts
	}
	return 6
}

// wait sleeps before attempt i+1 (i ≥ 1), or returns ctx's error.
func (c *Client) wait(ctx context.Context, i int) error {
	d := c.Backoff
	if d == 0 {
		d = time.Second
	}
	for ; i > 1 && d < 30*time.Second; i-- {
		d *= 2
	}
	t := time.NewTimer(min(d, 30*time.Second))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// browserHeaders are sent with every request.
func browserHeaders(req *http.Request, accept string) {
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", accept)
	req.Header.Set("Accept-Language", "en-US,en;q=0.5")
	req.Header.Set("DNT", "1")
}

// retryable is an error worth another attempt: the server or the
// connection failed, not the request.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// isHTML reports whether a response is an HTML page (a login wall, a
// robot check, an error page) by its Content-Type or its first bytes.
func isHTML(header http.Header, head []byte) bool {
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt == "text/html" || mt == "application/xhtml+xml" {
		return true
	}
	h := bytes.ToLower(bytes.TrimLeft(head, " \t\r\n\ufeff"))
	return bytes.HasPrefix(h, []byte("<!doctype html")) || bytes.HasPrefix(h, []byte("<html")) || bytes.HasPrefix(h, []byte("<head"))
}

// statusError describes a failed response; 5xx and 429 are retryable.
func statusError(what string, resp *http.Response) error {
	err := fmt.Errorf("%s: HTTP %s", what, resp.Status)
	if resp.StatusCode == http.StatusForbidden {
		err = fmt.Errorf("%s: HTTP %s (figshare refuses clients it takes for robots; try again later or from another network)", what, resp.Status)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return retryable{err}
	}
	return err
}

// Article fetches article's version from the API.
func (c *Client) Article(ctx context.Context, article, version int) (*Article, error) {
	api := c.API
	if api == "" {
		api = DefaultAPI
	}
	url := fmt.Sprintf("%s/articles/%d/versions/%d", strings.TrimRight(api, "/"), article, version)
	var a Article
	err := c.retry(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		browserHeaders(req, "application/json")
		resp, err := c.http().Do(req)
		if err != nil {
			return retryable{fmt.Errorf("figshare %s: %w", url, err)}
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return retryable{fmt.Errorf("figshare %s: %w", url, err)}
		}
		if isHTML(resp.Header, body) {
			return fmt.Errorf("figshare %s: HTTP %s with an HTML page instead of JSON (figshare's robot check?)", url, resp.Status)
		}
		if resp.StatusCode != http.StatusOK {
			return statusError("figshare "+url, resp)
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return fmt.Errorf("figshare %s: not the article JSON expected: %v", url, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// retry runs f until it succeeds, fails for good, or the attempts are
// used up.
func (c *Client) retry(ctx context.Context, f func() error) error {
	var err error
	for i := 1; ; i++ {
		err = f()
		var r retryable
		if err == nil || !errors.As(err, &r) || ctx.Err() != nil {
			break
		}
		if i >= c.attempts() {
			return fmt.Errorf("%w (gave up after %d attempts)", err, i)
		}
		if werr := c.wait(ctx, i); werr != nil {
			return werr
		}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// Hashes are the sums of a downloaded file.
type Hashes struct {
	MD5, SHA256 string
	Size        int64
}

// PartSuffix is appended to a file's name while it downloads.
const PartSuffix = ".part"

// Download fetches f into path: into path+".part" first, resumed with an
// HTTP Range request when the part exists (a killed run, a dropped
// connection), retried with backoff on server and connection errors; the
// md5 and sha256 are computed while the bytes stream. The part becomes
// path only when its size and md5 match figshare's (supplied_md5); a
// mismatch removes the part. An HTML page is an error, whatever its
// status.
func (c *Client) Download(ctx context.Context, f FileEntry, path string) (Hashes, error) {
	part := path + PartSuffix
	out, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return Hashes{}, fmt.Errorf("download %s: %w", f.Name, err)
	}
	defer out.Close()
	md, sh := md5.New(), sha256.New()
	// the bytes of an earlier attempt count
	have, err := io.Copy(io.MultiWriter(md, sh), out)
	if err != nil {
		return Hashes{}, fmt.Errorf("download %s: read %s: %w", f.Name, part, err)
	}
	if have > f.Size {
		if err := restart(out, md, sh); err != nil {
			return Hashes{}, err
		}
		have = 0
	}
	err = c.retry(ctx, func() error {
		if have == f.Size && f.Size > 0 {
			return nil
		}
		n, err := c.fetch(ctx, f, out, have, md, sh)
		have = n
		return err
	})
	if err != nil {
		return Hashes{}, err
	}
	h := Hashes{MD5: hex.EncodeToString(md.Sum(nil)), SHA256: hex.EncodeToString(sh.Sum(nil)), Size: have}
	if have != f.Size {
		os.Remove(part)
		return h, fmt.Errorf("download %s: %d bytes, figshare says %d; the partial file was removed", f.Name, have, f.Size)
	}
	if f.SuppliedMD5 != "" && !strings.EqualFold(h.MD5, f.SuppliedMD5) {
		os.Remove(part)
		return h, fmt.Errorf("download %s: md5 %s, figshare says %s; the file was removed, nothing was imported for it", f.Name, h.MD5, f.SuppliedMD5)
	}
	if err := out.Sync(); err != nil {
		return h, fmt.Errorf("download %s: %w", f.Name, err)
	}
	if err := out.Close(); err != nil {
		return h, fmt.Errorf("download %s: %w", f.Name, err)
	}
	if err := os.Rename(part, path); err != nil {
		return h, fmt.Errorf("download %s: %w", f.Name, err)
	}
	return h, nil
}

func restart(out *os.File, hs ...hash.Hash) error {
	for _, h := range hs {
		h.Reset()
	}
	if err := out.Truncate(0); err != nil {
		return err
	}
	_, err := out.Seek(0, io.SeekStart)
	return err
}

// fetch requests f from byte have on and appends to out; it returns the
// bytes now in out.
func (c *Client) fetch(ctx context.Context, f FileEntry, out *os.File, have int64, md, sh hash.Hash) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.DownloadURL, nil)
	if err != nil {
		return have, fmt.Errorf("download %s: %w", f.Name, err)
	}
	browserHeaders(req, "*/*")
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return have, retryable{fmt.Errorf("download %s from %s: %w", f.Name, f.DownloadURL, err)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		var start int64 = -1
		fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start)
		if start != have {
			return have, fmt.Errorf("download %s: asked for bytes from %d, got Content-Range %q", f.Name, have, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if have > 0 { // no Range support: start over
			if err := restart(out, md, sh); err != nil {
				return have, err
			}
			have = 0
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// the part is stale: start over on the next attempt
		if err := restart(out, md, sh); err != nil {
			return have, err
		}
		return 0, retryable{fmt.Errorf("download %s: HTTP %s for bytes from %d", f.Name, resp.Status, have)}
	default:
		return have, statusError("download "+f.Name+" from "+f.DownloadURL, resp)
	}
	buf := make([]byte, 1<<20)
	first := true
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if first && have == 0 && isHTML(resp.Header, buf[:n]) {
				return have, fmt.Errorf("download %s from %s: HTTP %s with an HTML page instead of the file (figshare's robot check?)", f.Name, f.DownloadURL, resp.Status)
			}
			first = false
			if _, err := out.Write(buf[:n]); err != nil {
				return have, fmt.Errorf("download %s: write: %w", f.Name, err)
			}
			md.Write(buf[:n])
			sh.Write(buf[:n])
			have += int64(n)
			if c.Progress != nil {
				c.Progress(int64(n))
			}
			if have > f.Size {
				restart(out, md, sh)
				return 0, fmt.Errorf("download %s: more than the %d bytes figshare announced", f.Name, f.Size)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return have, context.Cause(ctx)
			}
			return have, retryable{fmt.Errorf("download %s: connection lost after %d of %d bytes: %w", f.Name, have, f.Size, rerr)}
		}
	}
	if have < f.Size {
		return have, retryable{fmt.Errorf("download %s: connection closed after %d of %d bytes", f.Name, have, f.Size)}
	}
	return have, nil
}

// HashFile computes the md5 and sha256 of a file on disk.
func HashFile(path string) (Hashes, error) {
	f, err := os.Open(path)
	if err != nil {
		return Hashes{}, err
	}
	defer f.Close()
	md, sh := md5.New(), sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(md, sh), f, make([]byte, 1<<20))
	if err != nil {
		return Hashes{}, fmt.Errorf("read %s: %w", path, err)
	}
	return Hashes{MD5: hex.EncodeToString(md.Sum(nil)), SHA256: hex.EncodeToString(sh.Sum(nil)), Size: n}, nil
}
