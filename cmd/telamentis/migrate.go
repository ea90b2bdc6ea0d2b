package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/telamentis/telamentis/postgres"
	"github.com/telamentis/telamentis/secrets"
)

// migrateCommand is `telamentis migrate`: it applies the embedded
// PostgreSQL schema migrations as the owner role and grants the service
// roles their data privileges (docs/deploy/postgres.md). The owner DSN
// comes from TELAMENTIS_OWNER_DSN(_FILE), or from --owner-dsn without a
// password.
func migrateCommand(getenv func(string) string, stderr io.Writer) *cobra.Command {
	var (
		ownerDSN, schema, level string
		roles                   []string
		groupReadable           bool
	)
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the PostgreSQL schema migrations as the owner role",
		Long: "Apply the embedded PostgreSQL schema migrations as the owner role and grant the service\n" +
			"role(s) SELECT, INSERT, UPDATE, DELETE. Idempotent; replicas may run it concurrently.\n" +
			"The owner DSN comes from " + OwnerDSNEnv + " or " + OwnerDSNEnv + "_FILE (or --owner-dsn, without a password).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(stderr, level)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if schema == "" {
				schema = getenv(envName("pg-schema"))
			}
			if len(roles) == 0 {
				return errors.New("migrate: --service-role: required (the role telamentis serve connects as)")
			}
			if v := getenv(envName("secret-files-group-readable")); v != "" && !cmd.Flags().Changed("secret-files-group-readable") {
				// Read as serve reads it (strconv.ParseBool), not only "true".
				if err := setValue(&groupReadable, v); err != nil {
					return fmt.Errorf("migrate: %s: %w", envName("secret-files-group-readable"), err)
				}
			}
			loader := secrets.Loader{
				LookupEnv:          func(k string) (string, bool) { v := getenv(k); return v, v != "" },
				AllowGroupReadable: groupReadable,
			}
			dsn, err := loadDSN(loader, getenv, OwnerDSNEnv, ownerDSN)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if dsn.IsZero() {
				return fmt.Errorf("migrate: owner DSN: set %s, %s_FILE or --owner-dsn", OwnerDSNEnv, OwnerDSNEnv)
			}
			if err := postgres.Migrate(cmd.Context(), postgres.MigrateConfig{
				OwnerDSN: dsn, ServiceRoles: roles, Schema: schema, Logger: logger,
			}); err != nil {
				return err
			}
			logger.Info("migrations applied", slog.Any("service_roles", roles))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ownerDSN, "owner-dsn", "", "owner role's postgres:// URL without a password (else "+OwnerDSNEnv+"(_FILE))")
	f.StringSliceVar(&roles, "service-role", nil, "service role to grant data privileges (repeatable)")
	f.StringVar(&schema, "pg-schema", "", "schema of the system and shared tables (default telamentis; also TELAMENTIS_PG_SCHEMA)")
	f.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	f.BoolVar(&groupReadable, "secret-files-group-readable", false, "accept group-readable *_FILE secrets (k8s fsGroup 0440)")
	return cmd
}
