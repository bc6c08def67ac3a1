package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/site"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

// app holds the global flags and the process's streams; every command
// reaches the host, the site file and ckan.ini through it.
type app struct {
	root    string
	ckanIni string
	config  string
	json    bool
	noColor bool
	verbose int

	// lastPath is the file the previous finding printed was about.
	lastPath string

	stdin          io.Reader
	stdout, stderr io.Writer
	ctx            context.Context
}

// exitError carries an exit status; its message (if any) has been
// printed already or is printed by run.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageErrorf is an error in how dcor was called: exit status 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

// silentExit ends with status code without another message.
func silentExit(code int) error { return &exitError{code: code} }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, ctx: ctx}
	cmd := a.rootCommand()
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(stderr, "dcor: %s\n", ee.msg)
			if ee.code == 2 {
				fmt.Fprintln(stderr, "Run 'dcor help' for usage.")
			}
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "dcor: %s\n", err)
	if isCobraUsageError(err) {
		fmt.Fprintln(stderr, "Run 'dcor help' for usage.")
		return 2
	}
	return 1
}

// isCobraUsageError recognises the errors Cobra returns for a wrong
// command line (unknown command, wrong number of arguments, …).
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least",
		"requires at most", "invalid argument", "required flag", "flag needs an argument", "if any flags in the group"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, " "+p) {
			return true
		}
	}
	return false
}

func (a *app) rootCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dcor",
		Short: "Operate a DCOR host: check and fix its configuration, back it up, hand out access tokens",
		Long: `dcor operates a DCOR host (a CKAN site with the DCOR extensions): it checks and
fixes the host's configuration (inspect), backs the CKAN database up encrypted,
hands out encrypted access tokens, and more.

Host paths resolve under --root (default /); ckan.ini is --ckan-ini, else
$CKAN_INI, else /etc/ckan/default/ckan.ini; the site file is --config, else
/etc/dcor/dcor.yaml.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       dcorVersion(),
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v", err)
	})
	pf := cmd.PersistentFlags()
	pf.StringVar(&a.root, "root", "/", "resolve every host path under `DIR` (tests, demos, mounted images); services are never reloaded then")
	pf.StringVar(&a.ckanIni, "ckan-ini", "", "CKAN config `PATH` (default $CKAN_INI, else "+host.DefaultCKANIni+")")
	pf.StringVar(&a.config, "config", host.DefaultSiteFile, "site file `PATH`")
	pf.BoolVar(&a.json, "json", false, "print one JSON document for machines")
	pf.BoolVar(&a.noColor, "no-color", false, "no colour in the output (also NO_COLOR)")
	pf.CountVarP(&a.verbose, "verbose", "v", "say more (repeatable)")
	cmd.AddCommand(a.inspectCommand(), a.initCommand(), a.statusCommand(), a.versionCommand(),
		a.templatesCommand(), a.manCommand())
	for _, extra := range extraCommands {
		cmd.AddCommand(extra(a))
	}
	return cmd
}

// extraCommands are added by the other command files (one per command).
var extraCommands []func(a *app) *cobra.Command

func dcorVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// host is the host under --root.
func (a *app) host() host.Host { return host.New(a.root) }

// ckanIniPath is ckan.ini's host path.
func (a *app) ckanIniPath() string {
	if a.ckanIni != "" {
		return a.ckanIni
	}
	if p := os.Getenv("CKAN_INI"); p != "" {
		return p
	}
	return host.DefaultCKANIni
}

// siteFile loads the site file; a missing file gives an empty site and
// an error wrapping site.ErrNoSiteFile.
func (a *app) siteFile() (*site.Site, error) {
	s, err := site.Load(a.host().Path(a.config))
	if s == nil {
		s = &site.Site{}
	}
	if errors.Is(err, site.ErrNoSiteFile) {
		err = fmt.Errorf("%w at %s: create it with `dcor init --kind KIND --fqdn FQDN --email EMAIL`", site.ErrNoSiteFile, a.config)
	}
	return s, err
}

// interactive reports whether dcor may ask questions: stdin and stdout
// are terminals (DCOR_INTERACTIVE=1 forces it, for tests of the prompts).
func (a *app) interactive() bool {
	if os.Getenv("DCOR_INTERACTIVE") == "1" {
		return true
	}
	return isTerminal(a.stdin) && isTerminal(a.stdout)
}

func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// color reports whether output may be coloured.
func (a *app) color() bool {
	return !a.noColor && os.Getenv("NO_COLOR") == "" && isTerminal(a.stdout) && !a.json
}

// paint wraps s in an ANSI colour when colour is on.
func (a *app) paint(code, s string) string {
	if !a.color() {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// logf prints a verbose message to stderr at verbosity level >= 1.
func (a *app) logf(format string, args ...any) {
	if a.verbose > 0 {
		fmt.Fprintf(a.stderr, format+"\n", args...)
	}
}

// verboseWriter is where verbose output goes.
func (a *app) verboseWriter() io.Writer {
	if a.verbose > 0 {
		return a.stderr
	}
	return io.Discard
}

// readLine reads one answer from stdin.
func (a *app) readLine() (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := a.stdin.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return strings.TrimRight(b.String(), "\r"), nil
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			if err == io.EOF && b.Len() > 0 {
				return b.String(), nil
			}
			return b.String(), err
		}
	}
}

// askSecret reads a secret without echo on a terminal.
func (a *app) askSecret(prompt string) (string, error) {
	fmt.Fprint(a.stderr, prompt)
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		return string(b), err
	}
	return a.readLine()
}
