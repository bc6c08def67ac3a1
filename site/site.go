// Package site reads and writes the site file, /etc/dcor/dcor.yaml: what
// kind of DCOR site a host is and the values dcor cannot know by itself
// (FQDN, admin email, TLS paths, SMTP, the database password, ckan.ini
// keys the site overrides).
package site

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/DCOR-dev/dcor/host"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// Kinds are the kinds of DCOR site (facts §2).
var Kinds = []string{"production", "development", "medical", "testing"}

// Site is the content of the site file.
type Site struct {
	// Kind is one of Kinds.
	Kind string `yaml:"kind" mapstructure:"kind"`
	// Hostname is the short host name (default: the machine's).
	Hostname string `yaml:"hostname,omitempty" mapstructure:"hostname"`
	// FQDN is the fully qualified domain name users reach the site at.
	FQDN string `yaml:"fqdn,omitempty" mapstructure:"fqdn"`
	// IP is the address a testing site is reached at.
	IP string `yaml:"ip,omitempty" mapstructure:"ip"`
	// Email is the admin's email address.
	Email string `yaml:"email,omitempty" mapstructure:"email"`
	// TLS names the certificate and key nginx serves.
	TLS TLS `yaml:"tls,omitempty" mapstructure:"tls"`
	// SMTP configures CKAN's mail.
	SMTP SMTP `yaml:"smtp,omitempty" mapstructure:"smtp"`
	// Database holds the parts of ckan.ini's sqlalchemy.url that dcor
	// manages: the password and, when set, user, host, port and name.
	Database Database `yaml:"database,omitempty" mapstructure:"database"`
	// Backup configures encrypted database backups.
	Backup Backup `yaml:"backup,omitempty" mapstructure:"backup"`
	// CKAN holds ckan.ini keys of [app:main] this site sets to its own
	// values, over DCOR's defaults.
	CKAN map[string]string `yaml:"ckan,omitempty" mapstructure:"ckan"`
	// DefaultServers adds nginx servers that reject requests for other names.
	DefaultServers bool `yaml:"default_servers,omitempty" mapstructure:"default_servers"`
}

// TLS names the certificate (PEM, leaf first) and its key.
type TLS struct {
	Cert string `yaml:"cert,omitempty" mapstructure:"cert"`
	Key  string `yaml:"key,omitempty" mapstructure:"key"`
}

// SMTP is CKAN's mail server configuration.
type SMTP struct {
	Server   string `yaml:"server,omitempty" mapstructure:"server"`
	User     string `yaml:"user,omitempty" mapstructure:"user"`
	Password string `yaml:"password,omitempty" mapstructure:"password"`
	// Domain is the mail domain of the noreply/error senders (default:
	// the FQDN without its first label).
	Domain string `yaml:"mail_domain,omitempty" mapstructure:"mail_domain"`
}

// Database holds what dcor needs to know of the CKAN database. Each
// field that is set replaces that part of ckan.ini's sqlalchemy.url;
// the parts left empty stay as ckan.ini has them.
type Database struct {
	// Password is the password of the database user.
	Password string `yaml:"password,omitempty" mapstructure:"password"`
	// User is the database user (ckan_default in DCOR's documentation).
	User string `yaml:"user,omitempty" mapstructure:"user"`
	// Host is the database server's host name or address.
	Host string `yaml:"host,omitempty" mapstructure:"host"`
	// Port is the database server's port.
	Port string `yaml:"port,omitempty" mapstructure:"port"`
	// Name is the database's name (ckan_default in DCOR's documentation).
	Name string `yaml:"name,omitempty" mapstructure:"name"`
}

// Backup configures encrypted database backups.
type Backup struct {
	// KeyDir holds the recipients' armored public keys (*.asc).
	KeyDir string `yaml:"key_dir,omitempty" mapstructure:"key_dir"`
	// S3 is the bucket of off-site backups; empty fields come from
	// ckan.ini's dcor_object_store.* keys.
	S3 BackupS3 `yaml:"s3,omitempty" mapstructure:"s3"`
}

// BackupS3 is the S3 bucket of off-site backups (dcor ... --s3). Each
// field set here overrides ckan.ini's dcor_object_store.* key.
type BackupS3 struct {
	// EndpointURL is the server (https://host[:port]).
	EndpointURL string `yaml:"endpoint_url,omitempty" mapstructure:"endpoint_url"`
	// AccessKeyID and SecretAccessKey are the credentials.
	AccessKeyID     string `yaml:"access_key_id,omitempty" mapstructure:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key,omitempty" mapstructure:"secret_access_key"`
	// Bucket is the bucket; "" means DCOR's <bucket_name>000000000-backup.
	Bucket string `yaml:"bucket,omitempty" mapstructure:"bucket"`
	// Prefix goes before the YYYY/MM/ keys.
	Prefix string `yaml:"prefix,omitempty" mapstructure:"prefix"`
	// Region is the signing region ("" means us-east-1).
	Region string `yaml:"region,omitempty" mapstructure:"region"`
	// SSLVerify is "false" to turn TLS verification off ("" or "true": on).
	SSLVerify string `yaml:"ssl_verify,omitempty" mapstructure:"ssl_verify"`
}

// envKeys are the site-file keys that DCOR_* variables override
// (DCOR_TLS_CERT for tls::cert, …).
var envKeys = []string{"kind", "hostname", "fqdn", "ip", "email", "tls::cert", "tls::key",
	"smtp::server", "smtp::user", "smtp::password", "smtp::mail_domain", "database::password", "database::user", "database::host", "database::port", "database::name",
	"backup::key_dir", "backup::s3::endpoint_url", "backup::s3::access_key_id", "backup::s3::secret_access_key",
	"backup::s3::bucket", "backup::s3::prefix", "backup::s3::region", "backup::s3::ssl_verify"}

// ErrNoSiteFile is returned by Load when the site file does not exist.
var ErrNoSiteFile = errors.New("no site file")

// Load reads the site file at path (a path on the machine running dcor,
// already resolved under --root) and applies DCOR_* environment variables
// over it. A missing file gives ErrNoSiteFile wrapped with the path, and
// a Site built from the environment alone.
func Load(path string) (*Site, error) {
	v, err := newViper(true)
	if err != nil {
		return nil, err
	}
	var missing error
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		missing = fmt.Errorf("%w at %s: create it with `dcor init --kind KIND --fqdn FQDN --email EMAIL`", ErrNoSiteFile, path)
	case err != nil:
		return nil, fmt.Errorf("read site file: %w", err)
	default:
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("site file %s is not valid YAML: %v", path, err)
		}
	}
	s := &Site{}
	if err := v.Unmarshal(s); err != nil {
		return nil, fmt.Errorf("site file %s: %v", path, err)
	}
	if s.Kind != "" && !validKind(s.Kind) {
		return nil, fmt.Errorf("site file %s: kind %q is not one of %s", path, s.Kind, strings.Join(Kinds, ", "))
	}
	return s, missing
}

// newViper is the reader of site files, with the DCOR_* variables over
// the file when env is set.
func newViper(env bool) (*viper.Viper, error) {
	v := viper.NewWithOptions(viper.KeyDelimiter("::"))
	v.SetConfigType("yaml")
	if env {
		v.SetEnvPrefix("DCOR")
		v.SetEnvKeyReplacer(strings.NewReplacer("::", "_"))
		for _, k := range envKeys {
			if err := v.BindEnv(k); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// decode reads a site file's content as Load does, without the
// environment and without judging the values.
func decode(data []byte) (*Site, error) {
	v, err := newViper(false)
	if err != nil {
		return nil, err
	}
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, err
	}
	s := &Site{}
	if err := v.Unmarshal(s); err != nil {
		return nil, err
	}
	return s, nil
}

func validKind(k string) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Validate reports what is wrong with a site that init is about to write.
func (s *Site) Validate() error {
	if s.Kind == "" {
		return fmt.Errorf("the site kind is not set: use --kind (%s)", strings.Join(Kinds, ", "))
	}
	if !validKind(s.Kind) {
		return fmt.Errorf("kind %q is not one of %s", s.Kind, strings.Join(Kinds, ", "))
	}
	return nil
}

// HostnameOrDefault is the site's host name, else the machine's.
func (s *Site) HostnameOrDefault() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	return host.Hostname()
}

// FQDNOrDefault is the site's FQDN, else its host name.
func (s *Site) FQDNOrDefault() string {
	if s.FQDN != "" {
		return s.FQDN
	}
	return s.HostnameOrDefault()
}

// CertPath is the TLS certificate's host path (default
// /etc/ssl/certs/FQDN.cert, as in the DCOR documentation).
func (s *Site) CertPath() string {
	if s.TLS.Cert != "" {
		return s.TLS.Cert
	}
	return "/etc/ssl/certs/" + s.FQDNOrDefault() + ".cert"
}

// KeyPath is the TLS key's host path (default /etc/ssl/private/FQDN.key).
func (s *Site) KeyPath() string {
	if s.TLS.Key != "" {
		return s.TLS.Key
	}
	return "/etc/ssl/private/" + s.FQDNOrDefault() + ".key"
}

// BackupKeyDir is the folder of backup recipients' public keys.
func (s *Site) BackupKeyDir() string {
	if s.Backup.KeyDir != "" {
		return s.Backup.KeyDir
	}
	return host.DefaultBackupKeyDir
}

// Marshal returns the site file's YAML, keys in a stable order.
func (s *Site) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# DCOR site file, written by `dcor init`; see `dcor help init`.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// Save writes the site file atomically with mode 0600 (it may hold
// passwords), creating its directory (0755) when missing. An existing
// file keeps its comments, key order and unknown keys (see Encode).
func (s *Site) Save(path string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	data, err := Encode(old, s)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	return host.WriteFileAtomic(path, data, 0o600)
}

// OverrideKeys returns the ckan.ini keys the site overrides, sorted.
func (s *Site) OverrideKeys() []string {
	keys := make([]string, 0, len(s.CKAN))
	for k := range s.CKAN {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
