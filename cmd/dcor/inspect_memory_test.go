package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/samplehost"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// bigIniSize is the size of the ckan.ini of TestInspectHugeCKANIniMemory
// (DCOR_BIG_INI_MB changes it).
func bigIniSize() int64 {
	if mb, err := strconv.Atoi(os.Getenv("DCOR_BIG_INI_MB")); err == nil && mb > 0 {
		return int64(mb) << 20
	}
	return 100 << 20
}

// writeBigIni writes the sample host's ckan.ini (DCOR's options, drifted)
// padded to about size bytes: comments and options of its own after the
// [app:main] header, the way a real file grows.
func writeBigIni(t *testing.T, path string, size int64) int64 {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, tail, ok := bytes.Cut(orig, []byte("[app:main]\n"))
	if !ok {
		t.Fatal("the sample ckan.ini has no [app:main]")
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(head)
	w.WriteString("[app:main]\n")
	n := int64(len(orig))
	for i := 0; n < size; i++ {
		var line string
		switch i % 4 {
		case 0:
			line = fmt.Sprintf("# padding %09d: a comment as long as the comments of CKAN's own ckan.ini\n", i)
		case 1:
			line = fmt.Sprintf("ckanext.padding.option_%09d = value of the padding option number %d\n", i, i)
		case 2:
			line = fmt.Sprintf("ckanext.padding.url_%09d = https://example.org/%d/resource\n", i, i)
		default:
			line = "\n"
		}
		w.WriteString(line)
		n += int64(len(line))
	}
	w.Write(tail)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInspectHugeCKANIniMemory runs the real dcor on a 100 MB ckan.ini:
// `inspect --only ckan-ini` with --check, --check --diff, --check --json
// and -y must stay within 3× the file's size of memory (peak RSS).
func TestInspectHugeCKANIniMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds dcor and writes a 100 MB file")
	}
	tmp := t.TempDir()
	bin := testtool.BuildDcor(t, tmp)
	root := filepath.Join(tmp, "host")
	if err := samplehost.Build(root); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--root", root, "init", "--kind", "production", "--fqdn", samplehost.FQDN,
		"--email", "admin@demo.example").CombinedOutput(); err != nil {
		t.Fatalf("dcor init: %v\n%s", err, out)
	}
	ini := filepath.Join(root, "etc/ckan/default/ckan.ini")
	size := writeBigIni(t, ini, bigIniSize())
	limit := 3 * size
	for _, mode := range []string{"--check", "--check --diff", "--check --json", "-y"} {
		args := append([]string{"--root", root, "inspect", "--only", "ckan-ini"}, strings.Fields(mode)...)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "CKAN_INI=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stop := testtool.PeakRSS(cmd.Process.Pid, 2*time.Millisecond)
		err := cmd.Wait()
		peak := stop()
		t.Logf("inspect %s on a %s ckan.ini: peak RSS %s (%.2f× the file), %v, exit %v",
			mode, testtool.MiB(size), testtool.MiB(peak), float64(peak)/float64(size), time.Since(start).Round(time.Millisecond), err)
		if mode == "-y" && err != nil {
			t.Errorf("inspect -y: %v\n%s", err, tailOf(out.Bytes(), 2000))
		}
		if strings.HasPrefix(mode, "--check --") && !bytes.Contains(out.Bytes(), []byte("+++ b/etc/ckan/default/ckan.ini")) {
			t.Errorf("inspect %s shows no diff of ckan.ini:\n%s", mode, tailOf(out.Bytes(), 2000))
		}
		if peak > limit {
			t.Errorf("inspect %s: peak RSS %s > 3× the file's %s", mode, testtool.MiB(peak), testtool.MiB(size))
		}
	}
	// The fixed file is still the big file.
	if st, err := os.Stat(ini); err != nil || st.Size() < size*9/10 {
		t.Errorf("ckan.ini after -y: %v, %v", st, err)
	}
}

func tailOf(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
