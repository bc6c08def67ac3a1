package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// statusJSON is the document `dcor status --json` prints.
type statusJSON struct {
	Kind        string `json:"kind"`
	Hostname    string `json:"hostname"`
	FQDN        string `json:"fqdn"`
	IP          string `json:"ip"`
	SiteFile    string `json:"site_file"`
	SiteFileErr string `json:"site_file_error,omitempty"`
	CKANIni     string `json:"ckan_ini"`
	CKANIniOK   bool   `json:"ckan_ini_exists"`
	CKANVersion string `json:"ckan_version,omitempty"`
	Version     string `json:"dcor_version"`
	Root        string `json:"root"`
}

// statusOptions are the flags of `dcor status`.
type statusOptions struct {
	venv string
}

func (a *app) statusCommand() *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the site kind, host name, FQDN, IP, ckan.ini, CKAN and dcor versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStatus(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.venv, "venv", "/usr/lib/ckan/default", "CKAN virtualenv `PATH`")
	return cmd
}

// runStatus is `dcor status`.
func (a *app) runStatus(ctx context.Context, o statusOptions) error {
	s, err := a.siteFile()
	st := statusJSON{Kind: s.Kind, Hostname: s.HostnameOrDefault(), FQDN: s.FQDNOrDefault(), IP: s.IP,
		SiteFile: a.config, CKANIni: a.ckanIniPath(), Version: dcorVersion(), Root: a.host().Root}
	if err != nil {
		st.SiteFileErr = err.Error()
	}
	if st.IP == "" {
		st.IP = firstIP()
	}
	if _, err := os.Stat(a.host().Path(st.CKANIni)); err == nil {
		st.CKANIniOK = true
	}
	st.CKANVersion = ckanVersion(a.host().Path(o.venv))
	if a.json {
		return a.emit(st)
	}
	w := a.stdout
	kind := st.Kind
	if kind == "" {
		kind = "(unknown: " + st.SiteFileErr + ")"
	}
	fmt.Fprintf(w, "site kind:    %s\n", kind)
	fmt.Fprintf(w, "hostname:     %s\nFQDN:         %s\nIP:           %s\n", st.Hostname, st.FQDN, st.IP)
	fmt.Fprintf(w, "site file:    %s\n", st.SiteFile)
	ini := st.CKANIni
	if !st.CKANIniOK {
		ini += " (missing)"
	}
	fmt.Fprintf(w, "ckan.ini:     %s\n", ini)
	cv := st.CKANVersion
	if cv == "" {
		cv = "unknown (no CKAN in " + o.venv + ")"
	}
	fmt.Fprintf(w, "CKAN:         %s\ndcor:         %s\n", cv, st.Version)
	if st.Root != "/" {
		fmt.Fprintf(w, "root:         %s\n", st.Root)
	}
	return nil
}

// firstIP is the first non-loopback address of this machine.
func firstIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

var versionLine = regexp.MustCompile(`^Version:\s*(\S+)`)

// ckanVersion reads the installed CKAN's version from the virtualenv's
// package metadata, "" when not found.
func ckanVersion(venv string) string {
	metas, _ := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages", "[cC][kK][aA][nN]-*.*-info", "METADATA"))
	metas2, _ := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages", "[cC][kK][aA][nN]-*.*-info", "PKG-INFO"))
	for _, m := range append(metas, metas2...) {
		f, err := os.Open(m)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v := versionLine.FindStringSubmatch(sc.Text()); v != nil {
				f.Close()
				return v[1]
			}
			if strings.TrimSpace(sc.Text()) == "" {
				break
			}
		}
		f.Close()
	}
	return ""
}
