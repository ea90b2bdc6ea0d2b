package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/telamentis/telamentis"
)

func newKeyCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage API keys",
		Long: "Keys of a tenant (--tenant; admin or the tenant's tenant_admin) or, without --tenant and with\n" +
			"a system admin key, system admin keys. Secrets are printed once, on create and rotate, to stdout."}
	cmd.AddCommand(newKeyCreateCmd(f), newKeyListCmd(f), newKeyRevokeCmd(f), newKeyRotateCmd(f))
	return cmd
}

func keyFields(k telamentis.APIKey) [][2]string {
	return [][2]string{{"id", k.ID}, {"tenant", orDash(k.Tenant)}, {"role", string(k.Role)}, {"name", orDash(k.Name)},
		{"pii", fmt.Sprint(k.PII)}, {"created_at", ts(k.CreatedAt)}, {"expires_at", ts(k.ExpiresAt)},
		{"revoked_at", ts(k.RevokedAt)}, {"last_used_at", ts(k.LastUsedAt)}}
}

// issuedKey is what key create and rotate print: the key and, once, its
// secret.
type issuedKey struct {
	Key    telamentis.APIKey `json:"key"`
	Secret string            `json:"secret"`
}

func printIssued(f *Factory, k telamentis.APIKey, sec telamentis.Secret) error {
	c, err := f.Config()
	if err != nil {
		return err
	}
	if c.Output != "table" {
		return printOne(f, issuedKey{k, sec.Reveal()}, nil)
	}
	// The secret alone on stdout, so that KEY=$(kgctl key create …) works;
	// the description goes to stderr.
	fmt.Fprintf(f.IO.ErrOut, "kgctl: key %s (%s, tenant %s) created; the secret below is shown once\n", k.ID, k.Role, orDash(k.Tenant))
	_, err = fmt.Fprintln(f.IO.Out, sec.Reveal())
	return err
}

// KeyCreateOptions are the options of key create.
type KeyCreateOptions struct {
	Role      string
	Name      string
	PII       bool
	ExpiresIn time.Duration
}

func newKeyCreateCmd(f *Factory) *cobra.Command {
	var o KeyCreateOptions
	cmd := &cobra.Command{
		Use: "create", Short: "Issue an API key (prints the secret once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return keyCreateRun(cmd.Context(), f, &o) },
	}
	cmd.Flags().StringVar(&o.Role, "role", "", "tenant_admin, writer or reader (admin for a system key)")
	cmd.Flags().StringVar(&o.Name, "name", "", "a name for the key")
	cmd.Flags().BoolVar(&o.PII, "pii", false, "may see PII properties")
	cmd.Flags().DurationVar(&o.ExpiresIn, "expires-in", 0, "expire after this long (e.g. 720h; 0 = never)")
	return cmd
}

func keyCreateRun(ctx context.Context, f *Factory, o *KeyCreateOptions) error {
	if !telamentis.Role(o.Role).Valid() {
		return usagef("--role: must be tenant_admin, writer, reader or admin")
	}
	if o.ExpiresIn < 0 {
		return usagef("--expires-in: must not be negative")
	}
	tenant, cli, err := f.scope(ctx, true)
	if err != nil {
		return err
	}
	req := telamentis.NewKey{Tenant: tenant, Role: telamentis.Role(o.Role), Name: o.Name, PII: o.PII}
	if o.ExpiresIn > 0 {
		req.ExpiresAt = time.Now().Add(o.ExpiresIn).UTC()
	}
	k, sec, err := cli.IssueKey(ctx, req)
	if err != nil {
		return err
	}
	return printIssued(f, k, sec)
}

// KeyListOptions are the options of key list.
type KeyListOptions struct{}

func newKeyListCmd(f *Factory) *cobra.Command {
	var o KeyListOptions
	return &cobra.Command{
		Use: "list", Short: "List API keys (never secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return keyListRun(cmd.Context(), f, &o) },
	}
}

func keyListRun(ctx context.Context, f *Factory, _ *KeyListOptions) error {
	tenant, cli, err := f.scope(ctx, true)
	if err != nil {
		return err
	}
	keys, err := cli.ListKeys(ctx, tenant)
	if err != nil {
		return err
	}
	return printList(f, keys, []string{"ID", "TENANT", "ROLE", "NAME", "PII", "CREATED", "EXPIRES", "REVOKED"}, func(k telamentis.APIKey) []string {
		return []string{k.ID, orDash(k.Tenant), string(k.Role), orDash(k.Name), fmt.Sprint(k.PII), ts(k.CreatedAt), ts(k.ExpiresAt), ts(k.RevokedAt)}
	})
}

// KeyRevokeOptions are the options of key revoke.
type KeyRevokeOptions struct{ ID string }

func newKeyRevokeCmd(f *Factory) *cobra.Command {
	var o KeyRevokeOptions
	return &cobra.Command{
		Use: "revoke <key-id>", Short: "Revoke an API key (effective on the next request)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			return keyRevokeRun(cmd.Context(), f, &o)
		},
	}
}

func keyRevokeRun(ctx context.Context, f *Factory, o *KeyRevokeOptions) error {
	tenant, cli, err := f.scope(ctx, true)
	if err != nil {
		return err
	}
	k, err := cli.RevokeTenantKey(ctx, tenant, o.ID)
	if err != nil {
		return err
	}
	return printOne(f, k, func() [][2]string { return keyFields(k) })
}

// KeyRotateOptions are the options of key rotate.
type KeyRotateOptions struct {
	ID      string
	Overlap time.Duration
}

func newKeyRotateCmd(f *Factory) *cobra.Command {
	var o KeyRotateOptions
	cmd := &cobra.Command{
		Use:   "rotate <key-id>",
		Short: "Issue a like key, then revoke the old one after --overlap (prints the new secret once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			return keyRotateRun(cmd.Context(), f, &o)
		},
	}
	cmd.Flags().DurationVar(&o.Overlap, "overlap", 0, "how long the old key keeps working (at most 720h; 0 = revoked now)")
	return cmd
}

func keyRotateRun(ctx context.Context, f *Factory, o *KeyRotateOptions) error {
	if o.Overlap < 0 || o.Overlap > 720*time.Hour {
		return usagef("--overlap: must be 0 to 720h")
	}
	tenant, cli, err := f.scope(ctx, true)
	if err != nil {
		return err
	}
	k, sec, err := cli.RotateTenantKey(ctx, tenant, o.ID, o.Overlap)
	if err != nil {
		return err
	}
	return printIssued(f, k, sec)
}
