package main

import (
	"fmt"
	"os"
	"strings"
)

// readSecretFile reads a password from a file (first line, without the
// line end): secrets never travel in argv.
func readSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read password file: %v", err)
	}
	s := strings.SplitN(string(data), "\n", 2)[0]
	return strings.TrimRight(s, "\r"), nil
}
