package accesstoken

import (
	"crypto/rand"
	"fmt"
	"os"
	"strings"
)

// passwordAlphabet holds lower-case letters and digits that cannot be
// mistaken for one another when read aloud or from paper: no 0/o, 1/l/i.
const passwordAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// Password layout: 6 groups of 5 characters from 31 symbols carry
// 30·log2(31) ≈ 148.6 bits.
const (
	passwordGroups    = 6
	passwordGroupSize = 5
)

// NewPassword returns a random password for a .dcor-access file, drawn
// from crypto/rand, with at least 128 bits of entropy and easy to read
// aloud: six dash-separated groups of five lower-case letters and digits,
// e.g. "k7m2p-x9tqa-…".
func NewPassword() (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for g := range passwordGroups {
		if g > 0 {
			b.WriteByte('-')
		}
		for n := 0; n < passwordGroupSize; {
			if _, err := rand.Read(buf); err != nil {
				return "", fmt.Errorf("random password: %w", err)
			}
			// Rejection sampling keeps the choice uniform over 31 symbols.
			if i := int(buf[0] & 31); i < len(passwordAlphabet) {
				b.WriteByte(passwordAlphabet[i])
				n++
			}
		}
	}
	return b.String(), nil
}

// ReadPasswordFile returns the password stored in the file at path, the
// first line without its line end. An empty password is an error.
func ReadPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("the password file %s is empty: put the password on its first line", path)
	}
	return line, nil
}
