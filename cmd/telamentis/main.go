// Command telamentis is the TelaMentis server: `telamentis serve` runs the
// REST API on the embedded store (or on PostgreSQL, store.go), creating a
// system admin API key on first start; `telamentis migrate` applies the
// PostgreSQL schema migrations; `telamentis health` probes a running
// server (the container's HEALTHCHECK); `telamentis config check` prints the
// effective configuration as a config file. docs/config.md lists every
// setting.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/auth"
)

// version and revision are set at build time with -ldflags
// "-X main.version=… -X main.revision=…" (deploy/Dockerfile). Without a
// revision, telamentis_build_info takes the VCS revision the go command
// stamped, if any.
var (
	version  = "dev"
	revision = ""
)

// BootstrapKeyFileEnv names a file holding the first system admin API key
// (tm_<id>_<secret>); without it the server creates one and prints it.
const BootstrapKeyFileEnv = "TELAMENTIS_BOOTSTRAP_ADMIN_KEY_FILE"

func main() {
	privateUmask()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "telamentis:", err)
		os.Exit(1)
	}
}

// run is main without the process: tests call it with their own context,
// arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:           "telamentis",
		Short:         "TelaMentis: multi-tenant bitemporal knowledge-graph memory",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		serveCommand(getenv, stderr),
		configCommand(getenv, stdout, stderr),
		auditCommand(getenv, stdout, stderr),
		healthCommand(getenv, stdout, stderr),
		migrateCommand(getenv, stderr),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, "telamentis", version) },
		},
	)
	return root.ExecuteContext(ctx)
}

// withConfig registers the server's settings as flags of cmd and
// resolves them (flag, env, file, default) when it runs.
func withConfig(cmd *cobra.Command, getenv func(string) string, runE func(*cobra.Command, Config) error) *cobra.Command {
	cfg := DefaultConfig()
	registerFlags(cmd.Flags(), &cfg)
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := loadConfig(cmd.Flags(), getenv)
		if err != nil {
			return err
		}
		return runE(cmd, c)
	}
	return cmd
}

// serveCommand is `telamentis serve`.
func serveCommand(getenv func(string) string, stderr io.Writer) *cobra.Command {
	return withConfig(&cobra.Command{Use: "serve", Short: "Run the REST API server"}, getenv,
		func(cmd *cobra.Command, c Config) error { return serveCmd(cmd.Context(), c, getenv, stderr, nil) })
}

// auditCommand is `telamentis audit verify`.
func auditCommand(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	verify := withConfig(&cobra.Command{
		Use:   "verify",
		Short: "Verify the audit log's hash chain; report the first broken sequence number",
	}, getenv, func(_ *cobra.Command, c Config) error {
		logger, err := newLogger(stderr, c.LogLevel)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		return auditVerify(c, getenv, stdout, logger)
	})
	auditCmd := &cobra.Command{Use: "audit", Short: "Audit log commands"}
	auditCmd.AddCommand(verify)
	return auditCmd
}

// auditDir is where the audit log lives: apart from the data directory.
func auditDir(cfg Config) string {
	if cfg.AuditDir != "" {
		return cfg.AuditDir
	}
	if cfg.InMemory {
		return ""
	}
	return filepath.Clean(cfg.Data) + "-audit"
}

// derive returns a purpose-bound 32-byte key from the master key, or a
// random one when there is no master key (in-memory mode).
func derive(master []byte, purpose string) []byte {
	if len(master) == 0 {
		k := make([]byte, 32)
		rand.Read(k)
		return k
	}
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// bootstrap creates the first system admin key when the key store is
// empty: the token of TELAMENTIS_BOOTSTRAP_ADMIN_KEY(_FILE) if set, else a
// new key written to keyFile (--admin-key-file) or printed once to stderr.
func bootstrap(ctx context.Context, store telamentis.KeyStore, keys *auth.Keys, token telamentis.Secret, keyFile string, stderr io.Writer, logger *slog.Logger) error {
	n, err := store.CountKeys(ctx)
	if err != nil {
		return fmt.Errorf("serve: bootstrap: %w", err)
	}
	if n > 0 {
		return nil
	}
	if !token.IsZero() {
		id, err := importBootstrapKey(ctx, keys, token)
		if err != nil {
			return fmt.Errorf("serve: bootstrap: %w", err)
		}
		logger.Info("bootstrap admin key imported", slog.String("key_id", id))
		return nil
	}
	return createBootstrapKey(ctx, keys, keyFile, stderr, logger)
}
