// Command kgctl is the command-line client of a TelaMentis server:
// tenants, API keys, CSV/NDJSON ingest, export, queries, audit, and
// encrypted backups. It speaks only the REST API, through the client
// package. Usage: kgctl <noun> <verb> [flags]; data goes to stdout,
// messages to stderr; exit codes are documented in docs/kgctl.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/client"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1 // server error, network, anything else
	exitUsage    = 2 // bad flags or arguments
	exitAuth     = 3 // unauthenticated or forbidden
	exitNotFound = 4
	exitInvalid  = 5 // invalid input, conflict, quota
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := Main(ctx, os.Args[1:], os.Getenv, &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		StdinTTY: isTerminal(os.Stdin), StdoutTTY: isTerminal(os.Stdout), StderrTTY: isTerminal(os.Stderr),
		Width: terminalWidth(os.Stdout)})
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a terminal. A character device is not
// enough: /dev/null is one too, and a script that runs kgctl with
// </dev/null must not be asked questions.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// terminalWidth returns the columns of the terminal f, or 0 when f is no
// terminal.
func terminalWidth(f *os.File) int {
	if !isTerminal(f) {
		return 0
	}
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return w
}

// IOStreams are the process's standard streams.
type IOStreams struct {
	In        io.Reader
	Out       io.Writer
	ErrOut    io.Writer
	StdinTTY  bool
	StdoutTTY bool
	StderrTTY bool
	// Width is the terminal's width in columns when Out is a terminal
	// (tables are fitted to it), else 0.
	Width int
}

// usageError is a mistake in flags or arguments (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitCode maps an error to the documented exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var te *telamentis.Error
	if !errors.As(err, &te) {
		return exitError
	}
	switch te.Code {
	case telamentis.CodeUnauthenticated, telamentis.CodeForbidden:
		return exitAuth
	case telamentis.CodeNotFound:
		return exitNotFound
	case telamentis.CodeInvalid, telamentis.CodeConflict, telamentis.CodeQuota:
		return exitInvalid
	}
	return exitError
}

// errorLine renders err as one line for stderr.
func errorLine(err error) string {
	var pe *client.ProblemError
	if errors.As(err, &pe) {
		return "kgctl: " + cell(problemLine(pe))
	}
	var te *telamentis.Error
	if errors.As(err, &te) {
		msg := te.Message
		for _, f := range te.Fields {
			msg += "; " + f.Field + ": " + f.Message
		}
		if te.Err != nil && te.Code == telamentis.CodeUnavailable {
			msg += ": " + te.Err.Error()
		}
		return "kgctl: " + cell(msg)
	}
	return "kgctl: " + cell(err.Error())
}

// problemLine renders a server problem: the detail (or title), the field
// errors, the retry time, then the status, the problem type and the
// request id. The type is the API's own spelling (not-found,
// rate-limited: the last segment of the problem type URI), not the Go
// domain code (not_found), so that what kgctl prints is what the API docs
// and a curl user see.
func problemLine(pe *client.ProblemError) string {
	var b strings.Builder
	msg := pe.Detail
	if msg == "" {
		msg = pe.Title
	}
	if msg == "" {
		msg = http.StatusText(pe.Status)
	}
	b.WriteString(msg)
	for _, f := range pe.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if pe.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", pe.RetryAfter)
	}
	fmt.Fprintf(&b, " (%d %s", pe.Status, problemType(pe))
	if pe.RequestID != "" {
		fmt.Fprintf(&b, ", request id %s", pe.RequestID)
	}
	b.WriteString(")")
	return b.String()
}

// problemType is the API's name of a problem: the last segment of its
// type URI, or — for an answer that was no problem document (a proxy's
// error page) — the domain code spelt the API's way.
func problemType(pe *client.ProblemError) string {
	if t, ok := strings.CutPrefix(pe.Type, httpProblemBase); ok && t != "" && !strings.ContainsAny(t, "/?#") {
		return t
	}
	if pe.Code() == telamentis.CodeQuota {
		return "quota-exceeded"
	}
	return strings.ReplaceAll(string(pe.Code()), "_", "-")
}

// httpProblemBase is the prefix of the API's problem type URIs
// (httpapi.ProblemBase; kgctl speaks only through the client package).
const httpProblemBase = "https://telamentis.dev/problems/"

// Main runs kgctl with args and returns the exit code. Tests call it with
// their own environment and streams.
func Main(ctx context.Context, args []string, getenv func(string) string, io *IOStreams) int {
	f := &Factory{IO: io, Getenv: getenv}
	root := newRootCmd(f)
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	err := root.ExecuteContext(ctx)
	if err != nil {
		if errors.Is(err, errSilent) {
			return exitCodeOf(err)
		}
		fmt.Fprintln(io.ErrOut, errorLine(err))
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(io.ErrOut, "Run 'kgctl --help' for usage.")
		}
	}
	return exitCode(err)
}

// errSilent marks an error already reported to the user; silentError
// carries the exit code.
var errSilent = errors.New("reported")

type silentError struct{ code int }

func (e *silentError) Error() string { return "reported" }
func (e *silentError) Is(t error) bool {
	return t == errSilent
}

func exitCodeOf(err error) int {
	var s *silentError
	if errors.As(err, &s) {
		return s.code
	}
	return exitError
}

func newRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "kgctl <noun> <verb>",
		Short: "Command-line client of a TelaMentis server",
		Long: "kgctl manages a TelaMentis server over its REST API: tenants, API keys, ingest, export,\n" +
			"queries, audit and encrypted backups. Data goes to stdout, messages to stderr.\n" +
			"Exit codes: 0 ok, 1 server or other error, 2 usage, 3 auth (or no key set), 4 not found,\n" +
			"5 invalid/conflict (also ingest rows rejected beyond --max-errors). Completion: kgctl completion --help.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if f.IO != nil {
		root.SetOut(f.IO.Out)
		root.SetErr(f.IO.ErrOut)
	}
	f.bindGlobalFlags(root)
	root.AddCommand(
		newTenantCmd(f), newKeyCmd(f), newIngestCmd(f), newExportCmd(f), newQueryCmd(f), newGetCmd(f),
		newAuditCmd(f), newHealthCmd(f), newVersionCmd(f), newBackupCmd(f), newRestoreCmd(f), newConfigCmd(f),
		newWhoamiCmd(f), newExtractCmd(f), newNodeCmd(f),
	)
	addCompletion(root)
	// Unknown subcommands and missing arguments are usage errors.
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Args != nil {
			args := c.Args
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return &usageError{err.Error()}
				}
				return nil
			}
		}
		if c.HasSubCommands() && c.RunE == nil && c.Run == nil {
			c.RunE = func(cmd *cobra.Command, a []string) error {
				if len(a) > 0 {
					return usagef("unknown command %q for %q", a[0], cmd.CommandPath())
				}
				return usagef("%s needs a subcommand: %s", cmd.CommandPath(), subNames(cmd))
			}
			c.Args = cobra.ArbitraryArgs
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return root
}

func subNames(c *cobra.Command) string {
	s := ""
	for _, sc := range c.Commands() {
		if sc.Hidden || sc.Name() == "help" {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += sc.Name()
	}
	return s
}
