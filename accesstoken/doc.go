// Package accesstoken makes and reads encrypted DCOR access tokens
// (".dcor-access" files, facts §6): a password-encrypted ZIP archive
// holding a CKAN API token (api_key.txt) and the server's certificate
// (server.cert), which DCOR-Aid opens to connect to a DCOR instance
// without web sign-up.
//
// Make does what the documented five manual steps did: it checks the
// user in the CKAN database (creating it with `ckan user add` on request),
// mints an API token the way CKAN does (an api_token row and an HS256 JWT
// signed with the secret from ckan.ini), and writes the archive with the
// traditional PKWARE encryption that Python's zipfile understands.
package accesstoken
