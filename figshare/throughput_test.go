package figshare

import (
	"context"
	"crypto/rand"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/figsharetest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// TestDownloadThroughput downloads a 256 MiB file from the fake figshare
// with Client.Download (md5 and sha256 while streaming, fsync, rename)
// and with curl (same URL, same User-Agent, to a file) and logs both
// rates, best of three each. The goal is 0.9× curl; the test fails only
// far below it (0.15×: at a load of 6 on 2 cores one run measured 0.45×, and make test runs
// it under -race), as the machine is shared.
func TestDownloadThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	curl := testtool.Need(t, "curl")
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	fh, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(fh, rand.Reader, 256<<20); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	f, err := figsharetest.FileOf(900, "big.bin", src)
	if err != nil {
		t.Fatal(err)
	}
	fig := figsharetest.New(&figsharetest.Article{ID: 1, Version: 1, License: "CC0", Files: []*figsharetest.File{f}})
	srv := httptest.NewServer(fig)
	defer srv.Close()
	fig.URL = srv.URL
	entry := FileEntry{ID: f.ID, Name: f.Name, Size: f.Size, DownloadURL: srv.URL + "/files/900", SuppliedMD5: f.MD5}
	c := &Client{}
	best := func(run func(i int) error) time.Duration {
		var b time.Duration
		for i := range 3 {
			start := time.Now()
			if err := run(i); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); b == 0 || d < b {
				b = d
			}
		}
		return b
	}
	dcor := best(func(i int) error {
		p := filepath.Join(dir, "dcor.bin")
		os.Remove(p)
		_, err := c.Download(context.Background(), entry, p)
		return err
	})
	curlT := best(func(i int) error {
		p := filepath.Join(dir, "curl.bin")
		os.Remove(p)
		return exec.Command(curl, "-sSf", "-A", UserAgent, "-o", p, entry.DownloadURL).Run()
	})
	rate := func(d time.Duration) float64 { return float64(f.Size) / (1 << 20) / d.Seconds() }
	ratio := rate(dcor) / rate(curlT)
	t.Logf("256 MiB from the fake figshare: dcor %.0f MiB/s (md5+sha256+fsync), curl %.0f MiB/s: %.2f× curl (load %s)",
		rate(dcor), rate(curlT), ratio, testtool.LoadAvg())
	if ratio < 0.15 { // -race (make test) slows the hashing; the figure is for a plain build
		t.Errorf("download at %.2f× curl, goal 0.9×", ratio)
	}
}
