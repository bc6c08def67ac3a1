package inspect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/internal/progress"
	"github.com/DCOR-dev/dcor/rtdc"
	"github.com/DCOR-dev/dcor/storage"
)

// resourceIssue is one thing wrong with one resource.
type resourceIssue int

const (
	noFile resourceIssue = iota
	badRTDC
	noCondensed
	noPreview
	checksumMismatch
	noChecksum
	unreadableFile
)

// checkResources looks at the file of every live uploaded resource: it
// exists, an .rtdc opens with HDF5 and has events, the ancillary files
// exist and, with VerifyChecksums, the sha256 matches the database. It
// reports only; it never changes anything.
func checkResources(env *Env) []*Finding {
	ctx := context.Background()
	l, err := env.layout()
	if err != nil {
		return []*Finding{{Severity: Failure, Message: err.Error()}}
	}
	resources, err := env.liveResources(ctx)
	if err != nil {
		return []*Finding{{Severity: Failure, Message: "cannot read the live resources: " + err.Error()}}
	}
	var uploads []ckandb.Resource
	for _, r := range resources {
		if r.Upload() {
			uploads = append(uploads, r)
		}
	}
	issues := make([][]string, unreadableFile+1)
	var mu sync.Mutex
	note := func(kind resourceIssue, r ckandb.Resource, msg string) {
		mu.Lock()
		issues[kind] = append(issues[kind], r.ID+": "+msg)
		mu.Unlock()
	}
	var done atomic.Int64
	stop := progress.Every(200*time.Millisecond, func() {
		env.progress(fmt.Sprintf("resources: %d of %d checked", done.Load(), len(uploads)))
	})
	jobs := make(chan ckandb.Resource)
	var wg sync.WaitGroup
	for range max(4, 2*runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range jobs {
				checkResource(env, l, r, note)
				done.Add(1)
			}
		}()
	}
	for _, r := range uploads {
		jobs <- r
	}
	close(jobs)
	wg.Wait()
	stop()
	env.progress("")
	env.logf("resources: %d live resources, %d with files checked", len(resources), len(uploads))
	return resourceFindings(env, issues)
}

// checkResource checks one resource and notes what is wrong with it.
func checkResource(env *Env, l storage.Layout, r ckandb.Resource, note func(resourceIssue, ckandb.Resource, string)) {
	p := l.ResourcePath(r.ID)
	local, _, err := l.Locate(p)
	if err != nil {
		note(noFile, r, locateError(p, err))
		return
	}
	if r.RTDC() {
		if n, err := rtdc.EventCount(local); err != nil {
			note(badRTDC, r, p+": "+err.Error())
		} else if n <= 0 {
			note(badRTDC, r, fmt.Sprintf("%s: %s is %d", p, rtdc.EventCountAttr, n))
		}
		for _, a := range []struct {
			suffix string
			issue  resourceIssue
		}{{storage.CondensedSuffix, noCondensed}, {storage.PreviewSuffix, noPreview}} {
			if _, _, err := l.Locate(p + a.suffix); err != nil {
				note(a.issue, r, locateError(p+a.suffix, err))
			}
		}
	}
	if !env.VerifyChecksums {
		return
	}
	want := r.SHA256()
	if want == "" {
		note(noChecksum, r, p)
		return
	}
	got, err := fileSHA256(local)
	switch {
	case err != nil:
		note(unreadableFile, r, p+": "+err.Error())
	case got != want:
		note(checksumMismatch, r, fmt.Sprintf("%s: sha256 %s, the database has %s", p, got, want))
	}
}

func locateError(p string, err error) string {
	switch {
	case errors.Is(err, storage.ErrLoop):
		return p + ": symbolic link loop"
	case errors.Is(err, storage.ErrBroken):
		return p + ": broken link (" + strings.TrimPrefix(err.Error(), storage.ErrBroken.Error()+": ") + ")"
	case errors.Is(err, os.ErrNotExist):
		return p + ": missing"
	}
	return p + ": " + err.Error()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// resourceFindings turns the notes into one finding per kind of issue.
func resourceFindings(env *Env, issues [][]string) []*Finding {
	ckan := env.Venv + "/bin/ckan -c " + env.CKANIni
	messages := map[resourceIssue]struct {
		severity Severity
		text     string
	}{
		noFile:           {Drift, "resources without a file: %d"},
		badRTDC:          {Drift, ".rtdc files that do not open with HDF5 or hold no events: %d"},
		noCondensed:      {Drift, "RT-DC resources without _condensed.rtdc: %d; regenerate with `" + ckan + " run-jobs-dc-serve`"},
		noPreview:        {Drift, "RT-DC resources without _preview.jpg: %d; regenerate with `" + ckan + " run-jobs-dc-view`"},
		checksumMismatch: {Drift, "files whose sha256 differs from the database: %d"},
		unreadableFile:   {Failure, "files that could not be read for their sha256: %d"},
		noChecksum:       {Warning, "resources without a sha256 in the database to compare with: %d"},
	}
	var out []*Finding
	for kind := noFile; kind <= unreadableFile; kind++ {
		lines := issues[kind]
		if len(lines) == 0 {
			continue
		}
		sort.Strings(lines)
		m := messages[kind]
		out = append(out, &Finding{Severity: m.severity, Message: fmt.Sprintf(m.text, len(lines)),
			Details: firstLines(lines)})
	}
	return out
}
