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
	// emitted is set once the command printed its JSON document.
	emitted bool

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
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		// The first signal stops the work at the next safe point; a
		// second one ends dcor at once (programs die with it).
		cancel(interrupted{sig})
		if sig2, ok := <-sigs; ok {
			os.Exit(interrupted{sig2}.exitCode())
		}
	}()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, ctx: ctx}
	for _, arg := range args {
		if arg == "--" {
			break
		}
		if arg == "--json" || arg == "--json=true" {
			a.json = true // also for errors in parsing the command line
		}
	}
	cmd := a.rootCommand()
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code, msg := 1, err.Error()
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code, msg = ee.code, ee.msg
	case isCobraUsageError(err):
		code = 2
	}
	if c, why := interruptedBy(ctx); c != 0 && code != 2 {
		code = c
		if msg == "" && !a.emitted {
			msg = why
		}
	}
	printError(a, msg, code)
	return code
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
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.json && noJSON(cmd) {
				return usageErrorf("%s has no JSON output: drop --json", cmd.Name())
			}
			return a.checkRoot()
		},
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
		a.templatesCommand(), a.manCommand(), a.backupCommand(), a.restoreCommand(), a.backupsCommand(), a.instanceBackupCommand(), a.restoreInstanceCommand(), a.scheduleCommand(),
		a.makeAccessTokenCommand(), a.accessTokenCommand(), a.updateCommand(), a.resetCommand(), a.doctorCommand(), a.importFigshareCommand())
	return cmd
}

func dcorVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// noJSON reports whether cmd is one of the commands whose output is for
// a shell or a man reader, not a result (man, completion).
func noJSON(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "man", "completion":
			return true
		}
	}
	return false
}

// checkRoot refuses a --root that is not an existing directory: a typo
// must not be taken for an empty host that -y then fills.
func (a *app) checkRoot() error {
	if a.root == "" || a.root == "/" {
		return nil
	}
	info, err := os.Stat(a.root)
	switch {
	case err != nil && errors.Is(err, os.ErrNotExist):
		return usageErrorf("--root %s does not exist: give the directory the host's files are under", a.root)
	case err != nil:
		return usageErrorf("--root %s: %v", a.root, err)
	case !info.IsDir():
		return usageErrorf("--root %s is not a directory", a.root)
	}
	return nil
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

// askSecretTwice asks for a new secret twice and accepts it only when both
// answers match (three tries); an empty first answer skips it.
func (a *app) askSecretTwice(prompt string) (string, error) {
	for try := 0; try < 3; try++ {
		first, err := a.askSecret(prompt + ": ")
		if err != nil || first == "" {
			return first, err
		}
		second, err := a.askSecret("again, to confirm: ")
		if err != nil {
			return "", err
		}
		if first == second {
			return first, nil
		}
		fmt.Fprintln(a.stderr, "the two answers differ; once more")
	}
	return "", errors.New("the answers differed three times: nothing was saved")
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
