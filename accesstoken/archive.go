package accesstoken

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Names of the two members of a .dcor-access file (facts §6).
const (
	TokenMember = "api_key.txt"
	CertMember  = "server.cert"
)

// Extension is the file name extension of encrypted access tokens.
const Extension = ".dcor-access"

// Pack returns a .dcor-access file: a ZIP archive holding exactly
// api_key.txt (token and a newline) and server.cert (cert.PEM), both
// deflated and encrypted with traditional PKWARE encryption under
// password, which Python's zipfile (DCOR-Aid, dclab) and unzip open.
func Pack(token string, cert Certificate, password string) ([]byte, error) {
	token = strings.TrimSpace(token)
	switch {
	case password == "":
		return nil, errors.New("the access file password is empty")
	case token == "":
		return nil, errors.New("the API token is empty")
	case len(cert.PEM) == 0:
		return nil, errors.New("no certificate to put into the access file")
	}
	var buf bytes.Buffer
	err := writeEncryptedZip(&buf, []member{
		{name: TokenMember, data: []byte(token + "\n")},
		{name: CertMember, data: cert.PEM},
	}, []byte(password), time.Now())
	if err != nil {
		return nil, fmt.Errorf("build the access file: %w", err)
	}
	return buf.Bytes(), nil
}

// Contents is what a .dcor-access file holds.
type Contents struct {
	// Token is the API token (without line end).
	Token string
	// Certificate is the server certificate (chain).
	Certificate Certificate
	// Claims are the token's claims; zero when the token is not a JWT.
	Claims TokenClaims
	// ClaimsErr says why Claims is zero, or is nil.
	ClaimsErr error
}

// Unpack decrypts a .dcor-access file with password. A wrong password
// gives an error wrapping ErrWrongPassword.
func Unpack(data []byte, password string) (Contents, error) {
	members, err := readEncryptedZip(data, []byte(password), map[string]bool{TokenMember: true, CertMember: true})
	if err != nil {
		return Contents{}, err
	}
	for _, name := range []string{TokenMember, CertMember} {
		if _, ok := members[name]; !ok {
			return Contents{}, fmt.Errorf("not a DCOR access file: it has no %s", name)
		}
	}
	var c Contents
	c.Token = strings.TrimSpace(string(members[TokenMember]))
	if c.Token == "" {
		return Contents{}, fmt.Errorf("%s in the access file is empty", TokenMember)
	}
	c.Certificate, err = ParseCertificate(CertMember, members[CertMember])
	if err != nil {
		return Contents{}, err
	}
	c.Claims, c.ClaimsErr = ParseToken(c.Token)
	return c, nil
}
