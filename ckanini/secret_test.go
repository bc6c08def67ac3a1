package ckanini

import "testing"

func TestIsSecret(t *testing.T) {
	secret := []string{
		"sqlalchemy.url", "SQLAlchemy.URL", "ckan.datastore.write_url", "ckan.datastore.read_url",
		"beaker.session.secret", "SECRET_KEY", "secret_key", "WTF_CSRF_SECRET_KEY",
		"api_token.jwt.encode.secret", "api_token.jwt.decode.secret",
		"smtp.password", "solr_password", "ckan.redis.passwd", "gpg.passphrase",
		"beaker.session.validate_key", "beaker.session.encrypt_key", "ckan.recaptcha.privatekey",
		"ckan.datapusher.api_token", "ckanext.xloader.api_token", "ckanext.s3.aws_secret_access_key",
		"ckanext.s3.aws_access_key_id", "apikey", "some.password_file",
	}
	public := []string{
		"ckan.auth.create_default_api_keys", "ckan.recaptcha.publickey", "beaker.session.key",
		"api_token.nbytes", "api_token.jwt.algorithm", "ckan.site_url", "solr_url", "ckan.plugins",
		"ckan.site_id", "keys", "ckan.search.default_include_private", "smtp.user", "secrets.path.x",
		"ckan.auth.public_user_details", "",
	}
	for _, k := range secret {
		if !IsSecret(k) {
			t.Errorf("IsSecret(%q) = false", k)
		}
	}
	for _, k := range public {
		if IsSecret(k) {
			t.Errorf("IsSecret(%q) = true", k)
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"sqlalchemy.url", "postgresql://ckan_default:pass@localhost/ckan_default",
			"postgresql://ckan_default:****@localhost/ckan_default"},
		{"sqlalchemy.url", "postgresql://ckan_default@localhost/ckan_default",
			"postgresql://ckan_default@localhost/ckan_default"},
		{"sqlalchemy.url", "postgresql://u:p/a:ss@db:5432/ckan", "postgresql://u:****@db:5432/ckan"},
		{"sqlalchemy.url", "postgresql://u@db/ckan?password=abc&sslmode=require",
			"postgresql://u@db/ckan?password=****&sslmode=require"},
		{"sqlalchemy.url", "host=db user=u password=abc dbname=ckan", "host=db user=u password=**** dbname=ckan"},
		{"sqlalchemy.url", "not a url", "****"},
		{"solr_url", "http://127.0.0.1:8983/solr", "http://127.0.0.1:8983/solr"},
		{"solr_url", "http://solr:S3cr3t@127.0.0.1:8983/solr", "http://solr:****@127.0.0.1:8983/solr"},
		{"ckan.redis.url", "redis://:pw@localhost:6379/0", "redis://:****@localhost:6379/0"},
		{"ckan.datastore.write_url", "postgresql://a:b@h/d postgresql://c:d@h/e",
			"postgresql://a:****@h/d postgresql://c:****@h/e"},
		{"beaker.session.secret", "0I5bT2Ycn9SFZVoNcLbYsrVZG", "****"},
		{"SECRET_KEY", "abc", "****"},
		{"api_token.jwt.encode.secret", "string:abc", "string:****"},
		{"api_token.jwt.encode.secret", "file:/etc/ckan/jwt.key", "file:/etc/ckan/jwt.key"},
		{"smtp.password", "", ""},
		{"smtp.password", "x", "****"},
		{"ckan.site_title", "DCOR", "DCOR"},
		{"ckan.site_url", "https://dcor.mpl.mpg.de", "https://dcor.mpl.mpg.de"},
		{"ckan.auth.create_default_api_keys", "false", "false"},
		{"beaker.session.key", "ckan", "ckan"},
	}
	for _, tt := range tests {
		if got := Mask(tt.key, tt.value); got != tt.want {
			t.Errorf("Mask(%q, %q) = %q, want %q", tt.key, tt.value, got, tt.want)
		}
	}
}
