package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v4"

	"github.com/telamentis/telamentis/memlimit"
	"github.com/telamentis/telamentis/secrets"
)

// configCommand is `telamentis config check`.
func configCommand(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	check := withConfig(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print it as a config file",
		Long: "Validate the configuration as serve resolves it (flags, TELAMENTIS_* variables, the config\n" +
			"file, defaults), check the secrets, and print the effective settings as a config file:\n" +
			"the output is valid input for --config. Secrets are shown only as set or unset, in comments.",
	}, getenv, func(_ *cobra.Command, c Config) error {
		logger, err := newLogger(stderr, c.LogLevel)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		// Secrets are checked as serve would load them, then shown only
		// as set or unset.
		if _, err := secrets.NewReloader(secretLoader(c, getenv), logger, secretSpecs()...); err != nil {
			return fmt.Errorf("config: %w", err)
		}
		for _, spec := range []secrets.Spec{{Name: MasterKeyEnv, MinLen: 32, Optional: true},
			{Name: RedisPasswordEnv, Optional: true}} {
			if _, err := secretLoader(c, getenv).Load(spec); err != nil {
				return fmt.Errorf("config: %w", err)
			}
		}
		if err := checkStore(c, getenv); err != nil {
			return err
		}
		ml, _ := memlimit.Parse(c.MemoryLimit) // validated by loadConfig
		mr, err := memlimit.Resolve(ml, memlimit.Env{Getenv: getenv})
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		b, err := effectiveYAML(c)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "# effective %s\n", mr)
		for _, l := range secretStatus(getenv) {
			fmt.Fprintf(stdout, "# %s\n", l)
		}
		_, err = stdout.Write(b)
		return err
	})
	cmd := &cobra.Command{Use: "config", Short: "Configuration commands"}
	cmd.AddCommand(check)
	return cmd
}

// effectiveYAML renders c as a config file, under the file's own keys, so
// that `config check` prints what --config reads back. A store URL with a
// password is left out: it may come only from TELAMENTIS_STORE(_FILE),
// never from the file, and is never printed.
func effectiveYAML(c Config) ([]byte, error) {
	var buf bytes.Buffer
	if _, hasPW := dsnPassword(c.Store.Store); hasPW {
		fmt.Fprintf(&buf, "# store: %s (from %s; a password never goes in the file)\n", redactDSN(c.Store.Store), StoreEnv)
		c.Store.Store = ""
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("config: render: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: render: %w", err)
	}
	return buf.Bytes(), nil
}
