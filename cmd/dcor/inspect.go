package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/inspect"
	"github.com/DCOR-dev/dcor/site"
	"github.com/spf13/cobra"
)

func (a *app) inspectCommand() *cobra.Command {
	var yes, check, diff, verifyChecksums bool
	var only, skip []string
	var venv, quarantine string
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Compare the host with what it should be and fix the differences",
		Long: `inspect compares the host with DCOR's expected configuration: ckan.ini, the
uWSGI file, the nginx site, the supervisor programs, directory permissions and
the DCOR theme, and looks for orphaned files: files in the resource tree and
the users depot that belong to no live resource in the CKAN database. It shows
each finding and asks "fix? [y/N]"; the orphaned files are one finding, asked
once. The resources check (file, HDF5, ancillary files, --verify-checksums)
reads every resource file and runs only when named: --only resources.

  -y, --assume-yes  fix everything without asking
  --check           change nothing; exit 1 when anything drifted, 0 when clean
  --diff            show unified diffs of every file change (with --check:
                    the diffs that -y would apply)
  --quarantine DIR  move orphaned files to DIR/<host path> instead of deleting
                    them; undo with the cp -a command that inspect prints

Without a terminal and without -y, inspect behaves as --check: it never waits
for input. A changed file is first copied to NAME.dcor-YYYYmmdd-HHMMSS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if yes && check {
				return usageErrorf("--assume-yes and --check exclude each other")
			}
			checks, err := inspect.SelectChecks(only, skip)
			if err != nil {
				return usageErrorf("%v", err)
			}
			selected := map[string]bool{}
			for _, c := range checks {
				selected[c.Name] = true
			}
			if verifyChecksums && !selected["resources"] {
				return usageErrorf("--verify-checksums belongs to the resources check: add --only resources")
			}
			if quarantine != "" {
				if !selected["orphans"] {
					return usageErrorf("--quarantine belongs to the orphans check, which is not selected")
				}
				if quarantine, err = filepath.Abs(quarantine); err != nil {
					return usageErrorf("--quarantine: %v", err)
				}
			}
			s, siteErr := a.siteFile()
			if siteErr != nil && s.Kind == "" && !isNoSite(siteErr) {
				return &exitError{code: 1, msg: siteErr.Error()}
			}
			if venv == "" {
				venv = "/usr/lib/ckan/default"
			}
			env := &inspect.Env{Host: a.host(), Site: s, SiteErr: siteErr, SitePath: a.config,
				CKANIni: a.ckanIniPath(), Venv: venv, Now: time.Now(), Log: a.verboseWriter(),
				Quarantine: quarantine, VerifyChecksums: verifyChecksums}
			if isTerminal(a.stderr) && !a.json {
				shown := false
				env.Progress = func(msg string) {
					if msg != "" || shown {
						fmt.Fprint(a.stderr, "\r\x1b[K"+msg)
					}
					shown = msg != ""
				}
			}
			mode := inspect.CheckOnly
			switch {
			case yes:
				mode = inspect.FixAll
			case check:
			case a.interactive() && !a.json:
				mode = inspect.Ask
				env.AskValue = func(prompt string, secret bool) (string, error) {
					if secret {
						return a.askSecret(prompt + ": ")
					}
					fmt.Fprint(a.stderr, prompt+": ")
					return a.readLine()
				}
			default:
				if !a.json {
					fmt.Fprintln(a.stderr, "dcor: no terminal to ask at: checking only (use -y to fix)")
				}
			}
			opts := inspect.Options{Mode: mode, Only: only, Skip: skip,
				Reload: func(r *inspect.Report) { inspect.Reload(env, r) }}
			lastCheck := ""
			if mode == inspect.Ask {
				opts.Decide = func(f *inspect.Finding) bool {
					if f.Check != lastCheck {
						fmt.Fprintln(a.stdout, a.paint("1", f.Check))
						lastCheck = f.Check
						a.lastPath = ""
					}
					a.printFinding(f)
					if !f.Fixable {
						return false
					}
					fmt.Fprint(a.stdout, "    fix? [y/N] ")
					ans, err := a.readLine()
					if err != nil {
						fmt.Fprintln(a.stdout)
					}
					ans = strings.ToLower(strings.TrimSpace(ans))
					return ans == "y" || ans == "yes"
				}
			}
			rep, err := inspect.Run(env, opts)
			if err != nil {
				return usageErrorf("%v", err)
			}
			if a.json {
				return a.printInspectJSON(rep, mode)
			}
			if mode != inspect.Ask {
				for _, f := range rep.Findings {
					if f.Check != lastCheck {
						fmt.Fprintln(a.stdout, a.paint("1", f.Check))
						lastCheck = f.Check
						a.lastPath = ""
					}
					a.printFinding(f)
				}
			}
			if diff {
				for _, c := range rep.Changes {
					fmt.Fprint(a.stdout, a.colorDiff(c.Diff))
				}
			}
			a.printInspectSummary(rep, mode)
			if rep.Failed() {
				return silentExit(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&yes, "assume-yes", "y", false, "fix everything without asking")
	f.BoolVar(&check, "check", false, "change nothing; exit 1 when the host drifted")
	f.BoolVar(&diff, "diff", false, "show unified diffs of file changes")
	f.StringSliceVar(&only, "only", nil, "run only these checks (comma-separated)")
	f.StringSliceVar(&skip, "skip", nil, "skip these checks (comma-separated)")
	f.StringVar(&quarantine, "quarantine", "", "move orphaned files under `DIR` (a path on this machine) instead of deleting them")
	f.BoolVar(&verifyChecksums, "verify-checksums", false, "resources check: compare every file's sha256 with the database")
	f.StringVar(&venv, "venv", "", "CKAN virtualenv `PATH` (default /usr/lib/ckan/default)")
	return cmd
}

// isNoSite reports whether err says only that the site file is missing.
func isNoSite(err error) bool { return errors.Is(err, site.ErrNoSiteFile) }

func (a *app) printFinding(f *inspect.Finding) {
	mark := a.paint("31", "✗")
	switch {
	case f.Fixed:
		mark = a.paint("32", "✓")
	case f.Severity == inspect.Warning:
		mark = a.paint("33", "!")
	case f.Severity == inspect.Unmanaged:
		mark = a.paint("36", "?")
	}
	if f.Path != "" && f.Path != a.lastPath && !strings.Contains(f.String(), f.Path) {
		fmt.Fprintf(a.stdout, "  %s\n", a.paint("2", f.Path))
	}
	a.lastPath = f.Path
	fmt.Fprintf(a.stdout, "  %s %s\n", mark, f.String())
	for _, d := range f.Details {
		fmt.Fprintf(a.stdout, "      - %s\n", d)
	}
	if f.Error != "" {
		fmt.Fprintf(a.stdout, "    %s %s\n", a.paint("31", "not fixed:"), f.Error)
	}
}

func (a *app) colorDiff(d string) string {
	if !a.color() {
		return d
	}
	lines := strings.SplitAfter(d, "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			lines[i] = a.paint("1", strings.TrimRight(l, "\n")) + "\n"
		case strings.HasPrefix(l, "+"):
			lines[i] = a.paint("32", strings.TrimRight(l, "\n")) + "\n"
		case strings.HasPrefix(l, "-"):
			lines[i] = a.paint("31", strings.TrimRight(l, "\n")) + "\n"
		case strings.HasPrefix(l, "@@"):
			lines[i] = a.paint("36", strings.TrimRight(l, "\n")) + "\n"
		}
	}
	return strings.Join(lines, "")
}

func (a *app) printInspectSummary(rep *inspect.Report, mode inspect.Mode) {
	var drift, fixable, fixed, unmanaged, warnings, failures int
	for _, f := range rep.Findings {
		switch f.Severity {
		case inspect.Drift:
			drift++
		case inspect.Unmanaged:
			unmanaged++
		case inspect.Warning:
			warnings++
		case inspect.Failure:
			failures++
		}
		if f.Fixable {
			fixable++
		}
		if f.Fixed {
			fixed++
		}
	}
	if len(rep.Findings) == 0 {
		fmt.Fprintln(a.stdout, a.paint("32", "no drift: the host matches DCOR's configuration"))
		return
	}
	parts := []string{fmt.Sprintf("%d drifted", drift)}
	if failures > 0 {
		parts = append(parts, fmt.Sprintf("%d could not be checked", failures))
	}
	if unmanaged > 0 {
		parts = append(parts, fmt.Sprintf("%d not managed", unmanaged))
	}
	if warnings > 0 {
		parts = append(parts, fmt.Sprintf("%d warnings", warnings))
	}
	summary := strings.Join(parts, ", ")
	switch mode {
	case inspect.CheckOnly:
		fmt.Fprintf(a.stdout, "%s; %d fixable: run `dcor inspect -y` to fix\n", summary, fixable)
	default:
		fmt.Fprintf(a.stdout, "%s; fixed %d\n", summary, fixed)
		for _, c := range rep.Changes {
			switch {
			case c.Error != "":
				fmt.Fprintf(a.stdout, "  %s %s: %s\n", a.paint("31", "not written"), c.Path, c.Error)
			case c.Created:
				fmt.Fprintf(a.stdout, "  created %s\n", c.Path)
			default:
				fmt.Fprintf(a.stdout, "  changed %s (old version kept as %s)\n", c.Path, c.Backup)
			}
		}
		if len(rep.Reloaded) > 0 {
			fmt.Fprintf(a.stdout, "reloaded %s\n", strings.Join(rep.Reloaded, ", "))
		}
		if rep.ReloadNote != "" {
			fmt.Fprintln(a.stdout, rep.ReloadNote)
		}
	}
}

// inspectJSON is the document `dcor inspect --json` prints (README: "JSON output").
type inspectJSON struct {
	Version    string             `json:"dcor_version"`
	Root       string             `json:"root"`
	CKANIni    string             `json:"ckan_ini"`
	Mode       string             `json:"mode"`
	Drift      bool               `json:"drift"`
	Findings   []*inspect.Finding `json:"findings"`
	Changes    []*inspect.Change  `json:"changes"`
	Reloaded   []string           `json:"reloaded"`
	ReloadNote string             `json:"reload_note,omitempty"`
}

func (a *app) printInspectJSON(rep *inspect.Report, mode inspect.Mode) error {
	doc := inspectJSON{Version: dcorVersion(), Root: a.host().Root, CKANIni: a.ckanIniPath(),
		Mode:  map[inspect.Mode]string{inspect.CheckOnly: "check", inspect.FixAll: "fix", inspect.Ask: "ask"}[mode],
		Drift: rep.Failed(), Findings: rep.Findings, Changes: rep.Changes, Reloaded: rep.Reloaded, ReloadNote: rep.ReloadNote}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	if rep.Failed() {
		return silentExit(1)
	}
	return nil
}
