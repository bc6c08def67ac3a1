package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/accesstoken"
	"github.com/DCOR-dev/dcor/internal/selfsigned"
)

// TestWrongPasswordOneMessage: a wrong password is reported the same way
// whether the one-byte password check catches it or (for 1 in 256 wrong
// passwords) the garbled content does.
func TestWrongPasswordOneMessage(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := selfsigned.Write(certPath, keyPath, "dcor.example", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(certPath)
	cert, err := accesstoken.ParseCertificate("cert.pem", pem)
	if err != nil {
		t.Fatal(err)
	}
	data, err := accesstoken.Pack("header.payload.signature", cert, "right password")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "a.dcor-access")
	os.WriteFile(file, data, 0o600)

	// Find one wrong password of each kind.
	kinds := map[bool]string{} // passed the check byte → password
	for i := 0; len(kinds) < 2 && i < 100000; i++ {
		pw := "wrong " + strconv.Itoa(i)
		_, err := accesstoken.Unpack(data, pw)
		if !errors.Is(err, accesstoken.ErrWrongPassword) {
			t.Fatalf("%q: %v", pw, err)
		}
		kinds[strings.Contains(err.Error(), "damaged")] = pw
	}
	if len(kinds) < 2 {
		t.Fatal("no wrong password passed the check byte")
	}
	a := &app{stdin: strings.NewReader(""), stdout: os.Stdout, stderr: os.Stderr}
	for _, pw := range kinds {
		pwFile := filepath.Join(dir, "pw")
		os.WriteFile(pwFile, []byte(pw+"\n"), 0o600)
		_, err := a.openAccessFile(file, pwFile)
		want := "cannot decrypt " + file + ": wrong password (or not an intact DCOR access file)"
		if err == nil || err.Error() != want {
			t.Errorf("password %q: %v, want %q", pw, err, want)
		}
	}
}
