package accesstoken

import (
	"context"
	"fmt"

	"github.com/DCOR-dev/dcor/ckandb"
)

// MintAPIToken creates a CKAN API token named name for user natively, as
// Make does for an access file: an api_token row and a JWT signed with
// ckan.ini's secret (HS256 only). It returns the token and its id (to
// delete it again with ckandb.DB.DeleteAPIToken). Commands that call
// CKAN's action API as a user (import-figshare as the site user) use it.
func MintAPIToken(ctx context.Context, cfg Config, db *ckandb.DB, user ckandb.User, name string) (token, id string, err error) {
	if alg := cfg.Algorithm(); alg != "HS256" {
		return "", "", fmt.Errorf("api_token.jwt.algorithm is %s, which dcor does not sign itself: make a token with `ckan user token add %s %s` and pass it with --api-key-file", alg, user.Name, name)
	}
	m := minter{native: true}
	if m.secret, err = cfg.EncodeSecret(); err != nil {
		return "", "", err
	}
	if m.nbytes, err = cfg.nbytes(); err != nil {
		return "", "", err
	}
	res := &Result{TokenName: name}
	token, err = m.mint(ctx, Site{Config: cfg}, db, user, res)
	if err != nil {
		return "", "", err
	}
	return token, res.TokenID, nil
}
