package update

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/runner"
	"github.com/DCOR-dev/dcor/nginxconf"
)

// Host paths of the maintenance mode.
const (
	// MaintenanceSite is the nginx site served while dcor updates.
	MaintenanceSite = "/etc/nginx/sites-enabled/00_dcor_maintenance"
	// MaintenancePage is the page it shows (HTTP 503).
	MaintenancePage = "/var/www/dcor-maintenance.html"
	// ParkedSites is where DCOR's site waits meanwhile: outside
	// sites-enabled, so nginx does not load it.
	ParkedSites = "/etc/nginx/dcor-parked"
)

// Maintenance swaps DCOR's nginx site for a maintenance page while the
// update runs, as DCOR's playbooks do (roles/maintenance): the page and
// its site are written, the site's entry in sites-enabled (a link or a
// file) is moved aside, nginx is checked and reloaded; Off reverses it.
type Maintenance struct {
	// Host is the host; nginx is tested and reloaded only when it is live.
	Host host.Host
	// Site is the host path of DCOR's enabled nginx site.
	Site string
	// Title names the site on the page.
	Title string
}

// Action is the pair for a plan: on now, off deferred (also when a
// later step fails or the run is interrupted).
func (m *Maintenance) Action() change.Action {
	return change.Action{
		Description: "maintenance page on: " + m.Site + " moved to " + m.parked() + " and " + MaintenanceSite + " enabled until the update is over",
		Run:         m.On, Undo: m.Off}
}

func (m *Maintenance) parked() string { return ParkedSites + "/" + filepath.Base(m.Site) }

// On enables the maintenance page.
func (m *Maintenance) On(ctx context.Context) error {
	h := m.Host
	entry := h.PathNoFollow(m.Site)
	if _, err := os.Lstat(entry); err != nil {
		return fmt.Errorf("--maintenance needs DCOR's nginx site %s: %w", m.Site, err)
	}
	if _, err := os.Lstat(h.PathNoFollow(m.parked())); err == nil {
		return fmt.Errorf("%s exists: an earlier update left maintenance on; move it back to %s, remove %s, then run dcor update again", m.parked(), m.Site, MaintenanceSite)
	}
	site, err := os.ReadFile(h.Path(m.Site))
	if err != nil {
		return fmt.Errorf("reading %s: %w", m.Site, err)
	}
	conf, err := MaintenanceConfig(site)
	if err != nil {
		return fmt.Errorf("%s: %w", m.Site, err)
	}
	title := m.Title
	if title == "" {
		title = "DCOR"
	}
	if err := writeFile(h, MaintenancePage, []byte(MaintenanceHTML(title)), 0o644); err != nil {
		return err
	}
	if err := writeFile(h, MaintenanceSite, conf, 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(h.Path(ParkedSites), 0o755); err != nil {
		return err
	}
	if err := os.Rename(entry, h.PathNoFollow(m.parked())); err != nil {
		os.Remove(h.PathNoFollow(MaintenanceSite))
		return err
	}
	if err := m.reload(ctx); err != nil {
		if offErr := m.Off(context.WithoutCancel(ctx)); offErr != nil {
			err = fmt.Errorf("%w; putting the site back: %v", err, offErr)
		}
		return err
	}
	return nil
}

// Off puts DCOR's site back and removes the maintenance site.
func (m *Maintenance) Off(ctx context.Context) error {
	h := m.Host
	entry, parked := h.PathNoFollow(m.Site), h.PathNoFollow(m.parked())
	if _, err := os.Lstat(parked); err == nil {
		if _, err := os.Lstat(entry); err == nil {
			return fmt.Errorf("%s exists again: DCOR's site stays parked at %s", m.Site, m.parked())
		}
		if err := os.Rename(parked, entry); err != nil {
			return err
		}
	}
	if err := os.Remove(h.PathNoFollow(MaintenanceSite)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	os.Remove(h.Path(ParkedSites)) // only when empty
	return m.reload(ctx)
}

// reload tests nginx's configuration and reloads it (live host only).
func (m *Maintenance) reload(ctx context.Context) error {
	if !m.Host.Live() {
		return nil
	}
	if _, err := runner.Combined(ctx, "nginx", "-t", "-q"); err != nil {
		return fmt.Errorf("nginx rejects the configuration: %w", err)
	}
	if r := change.Reload(ctx, m.Host, []change.Service{change.Nginx}); r.Failed {
		return errors.New(r.Note())
	}
	return nil
}

func writeFile(h host.Host, p string, data []byte, mode os.FileMode) error {
	local := h.Path(p)
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	return h.WriteFileAtomic(local, data, mode)
}

// MaintenanceConfig is the maintenance site for DCOR's site: each server
// block keeps its listen, server_name and ssl_certificate(_key)
// directives (the same addresses and certificates) and answers every
// request with the maintenance page and status 503; Let's Encrypt's
// challenges are still served.
func MaintenanceConfig(site []byte) ([]byte, error) {
	c, err := nginxconf.Parse(site)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("# dcor update --maintenance: removed when the update is over\n")
	n := 0
	for _, s := range c.Statements() {
		if !s.Block || s.Name != "server" {
			continue
		}
		n++
		b.WriteString("server {\n")
		for _, d := range s.Children {
			switch d.Name {
			case "listen", "server_name", "ssl_certificate", "ssl_certificate_key":
				b.WriteString("    " + d.Name)
				for _, a := range d.Args {
					b.WriteString(" " + quoteArg(a))
				}
				b.WriteString(";\n")
			}
		}
		b.WriteString(`    location ^~ /.well-known/acme-challenge/ {
        root /var/www/acme-challenge/;
    }
    location / {
        return 503;
    }
    error_page 503 /dcor-maintenance.html;
    location = /dcor-maintenance.html {
        root /var/www/;
        internal;
    }
}
`)
	}
	if n == 0 {
		return nil, errors.New("no server block")
	}
	return []byte(b.String()), nil
}

func quoteArg(a string) string {
	if a == "" || strings.ContainsAny(a, " \t;{}\"'#$") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
	}
	return a
}

// MaintenanceHTML is the page (DCOR's playbooks' text).
func MaintenanceHTML(title string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	t := r.Replace(title)
	return `<!DOCTYPE html>
<title>` + t + ` Maintenance</title>
<style>
  body { text-align: center; padding: 150px; color: #333; }
  h1 { font-size: 50px; }
  article { display: block; text-align: left; width: 650px; margin: 0 auto; }
</style>
<article>
  <h1>` + t + ` Maintenance</h1>
  <p>Sorry for the inconvenience but we&rsquo;re performing some maintenance at the moment. We&rsquo;ll be back online shortly!</p>
  <p>&mdash; The ` + t + ` Team</p>
</article>
`
}
