package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/client"
)

func newTenantCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Manage tenants (system admin)"}
	cmd.AddCommand(newTenantCreateCmd(f), newTenantListCmd(f), newTenantDescribeCmd(f), newTenantUpdateCmd(f), newTenantDeleteCmd(f))
	return cmd
}

func tenantFields(t telamentis.Tenant) [][2]string {
	q := t.Quotas
	return [][2]string{
		{"id", t.ID}, {"name", orDash(t.Name)}, {"isolation", string(t.Isolation)}, {"status", string(t.Status)},
		{"quotas.max_nodes", num(q.MaxNodes)}, {"quotas.max_edges", num(q.MaxEdges)},
		{"quotas.requests_per_second", fnum(q.RequestsPerSecond)}, {"quotas.burst", num(int64(q.Burst))},
		{"quotas.max_concurrent", num(int64(q.MaxConcurrent))},
		{"quotas.llm_tokens_per_day", num(q.LLMTokensPerDay)}, {"quotas.llm_cost_per_day_usd", fnum(q.LLMCostPerDayUSD)},
		{"retention_days", retention(t.RetentionDays)},
		{"pii.fields", orDash(strings.Join(t.PII.Fields, ","))}, {"pii.mode", orDash(t.PII.Mode)}, {"pii.llm", orDash(t.PII.LLM)},
		{"created_at", ts(t.CreatedAt)}, {"updated_at", ts(t.UpdatedAt)},
	}
}

func num(v int64) string {
	if v == 0 {
		return "unlimited"
	}
	return strconv.FormatInt(v, 10)
}

func fnum(v float64) string {
	if v == 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// quotaFlags binds the quota flags; changed reports which were given.
type quotaFlags struct {
	q telamentis.Quotas
}

func (qf *quotaFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Int64Var(&qf.q.MaxNodes, "max-nodes", 0, "quota: live nodes (0 = unlimited)")
	fl.Int64Var(&qf.q.MaxEdges, "max-edges", 0, "quota: live edges (0 = unlimited)")
	fl.Float64Var(&qf.q.RequestsPerSecond, "requests-per-second", 0, "quota: request rate")
	fl.IntVar(&qf.q.Burst, "burst", 0, "quota: request burst")
	fl.IntVar(&qf.q.MaxConcurrent, "max-concurrent", 0, "quota: concurrent requests")
	fl.Int64Var(&qf.q.LLMTokensPerDay, "llm-tokens-per-day", 0, "quota: LLM tokens per day")
	fl.Float64Var(&qf.q.LLMCostPerDayUSD, "llm-cost-per-day-usd", 0, "quota: LLM cost per day (USD)")
}

var quotaFlagNames = []string{"max-nodes", "max-edges", "requests-per-second", "burst", "max-concurrent", "llm-tokens-per-day", "llm-cost-per-day-usd"}

// TenantCreateOptions are the options of tenant create.
type TenantCreateOptions struct {
	ID            string
	Name          string
	Isolation     string
	Suspended     bool
	Quotas        telamentis.Quotas
	RetentionDays int
	PIIFields     []string
	PIIMode       string
}

func newTenantCreateCmd(f *Factory) *cobra.Command {
	var o TenantCreateOptions
	var qf quotaFlags
	cmd := &cobra.Command{
		Use:   "create <id>",
		Short: "Create a tenant",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID, o.Quotas = args[0], qf.q
			return tenantCreateRun(cmd.Context(), f, &o)
		},
	}
	cmd.Flags().StringVar(&o.Name, "name", "", "display name")
	cmd.Flags().StringVar(&o.Isolation, "isolation", "shared", "shared or dedicated")
	cmd.Flags().BoolVar(&o.Suspended, "suspended", false, "create suspended")
	cmd.Flags().IntVar(&o.RetentionDays, "retention-days", 0, "keep superseded versions this many days (0 = forever)")
	cmd.Flags().StringSliceVar(&o.PIIFields, "pii-fields", nil, "property names holding personal data")
	cmd.Flags().StringVar(&o.PIIMode, "pii-mode", "", "mask or pseudonymise")
	qf.bind(cmd)
	return cmd
}

func tenantCreateRun(ctx context.Context, f *Factory, o *TenantCreateOptions) error {
	if !telamentis.ValidTenantID(o.ID) {
		return usagef("tenant id %q: must match ^[a-z0-9][a-z0-9_-]{1,62}$", o.ID)
	}
	switch o.Isolation {
	case "shared", "dedicated":
	default:
		return usagef("--isolation: must be shared or dedicated")
	}
	cli, err := f.Client()
	if err != nil {
		return err
	}
	t := telamentis.Tenant{ID: o.ID, Name: o.Name, Isolation: telamentis.Isolation(o.Isolation), Quotas: o.Quotas,
		RetentionDays: o.RetentionDays, PII: telamentis.PIIPolicy{Fields: o.PIIFields, Mode: o.PIIMode}}
	if o.Suspended {
		t.Status = telamentis.TenantSuspended
	}
	out, err := cli.CreateTenant(ctx, t)
	if err != nil {
		return err
	}
	return printOne(f, out, func() [][2]string { return tenantFields(out) })
}

// TenantListOptions are the options of tenant list.
type TenantListOptions struct{}

func newTenantListCmd(f *Factory) *cobra.Command {
	var o TenantListOptions
	return &cobra.Command{
		Use: "list", Short: "List tenants", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return tenantListRun(cmd.Context(), f, &o) },
	}
}

func tenantListRun(ctx context.Context, f *Factory, _ *TenantListOptions) error {
	cli, err := f.Client()
	if err != nil {
		return err
	}
	list, err := cli.ListTenants(ctx)
	if err != nil {
		return err
	}
	return printList(f, list, []string{"ID", "NAME", "ISOLATION", "STATUS", "CREATED"}, func(t telamentis.Tenant) []string {
		return []string{t.ID, orDash(t.Name), string(t.Isolation), string(t.Status), ts(t.CreatedAt)}
	})
}

// TenantDescribeOptions are the options of tenant describe.
type TenantDescribeOptions struct {
	ID    string
	Stats bool
}

func newTenantDescribeCmd(f *Factory) *cobra.Command {
	var o TenantDescribeOptions
	cmd := &cobra.Command{
		Use: "describe <id>", Short: "Show a tenant", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			return tenantDescribeRun(cmd.Context(), f, &o)
		},
	}
	return cmd
}

func tenantDescribeRun(ctx context.Context, f *Factory, o *TenantDescribeOptions) error {
	cli, err := f.Client()
	if err != nil {
		return err
	}
	t, err := cli.GetTenant(ctx, o.ID)
	if err != nil {
		return err
	}
	return printOne(f, t, func() [][2]string { return tenantFields(t) })
}

// TenantUpdateOptions are the options of tenant update.
type TenantUpdateOptions struct {
	ID            string
	Patch         client.TenantPatch
	Suspend       bool
	Resume        bool
	QuotasChanged []string
	Quotas        telamentis.Quotas
}

func newTenantUpdateCmd(f *Factory) *cobra.Command {
	var o TenantUpdateOptions
	var qf quotaFlags
	var name, piiMode string
	var retention int
	var piiFields []string
	cmd := &cobra.Command{
		Use:   "update <id>",
		Short: "Change a tenant's name, quotas, retention, PII policy; suspend or resume it",
		Long:  "Quota flags not given keep their current values.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			fl := cmd.Flags()
			if fl.Changed("name") {
				o.Patch.Name = &name
			}
			if fl.Changed("retention-days") {
				o.Patch.RetentionDays = &retention
			}
			if fl.Changed("pii-fields") || fl.Changed("pii-mode") {
				o.Patch.PII = &telamentis.PIIPolicy{Fields: piiFields, Mode: piiMode}
			}
			for _, n := range quotaFlagNames {
				if fl.Changed(n) {
					o.QuotasChanged = append(o.QuotasChanged, n)
				}
			}
			o.Quotas = qf.q
			return tenantUpdateRun(cmd.Context(), f, &o)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().BoolVar(&o.Suspend, "suspend", false, "suspend the tenant: its credentials are refused")
	cmd.Flags().BoolVar(&o.Resume, "resume", false, "make a suspended tenant active again")
	cmd.Flags().IntVar(&retention, "retention-days", 0, "keep superseded versions this many days (0 = forever)")
	cmd.Flags().StringSliceVar(&piiFields, "pii-fields", nil, "property names holding personal data (replaces the policy)")
	cmd.Flags().StringVar(&piiMode, "pii-mode", "", "mask or pseudonymise")
	qf.bind(cmd)
	return cmd
}

func tenantUpdateRun(ctx context.Context, f *Factory, o *TenantUpdateOptions) error {
	if o.Suspend && o.Resume {
		return usagef("--suspend and --resume exclude each other")
	}
	switch {
	case o.Suspend:
		s := telamentis.TenantSuspended
		o.Patch.Status = &s
	case o.Resume:
		s := telamentis.TenantActive
		o.Patch.Status = &s
	}
	cli, err := f.Client()
	if err != nil {
		return err
	}
	if len(o.QuotasChanged) > 0 {
		cur, err := cli.GetTenant(ctx, o.ID)
		if err != nil {
			return err
		}
		q := cur.Quotas
		for _, n := range o.QuotasChanged {
			switch n {
			case "max-nodes":
				q.MaxNodes = o.Quotas.MaxNodes
			case "max-edges":
				q.MaxEdges = o.Quotas.MaxEdges
			case "requests-per-second":
				q.RequestsPerSecond = o.Quotas.RequestsPerSecond
			case "burst":
				q.Burst = o.Quotas.Burst
			case "max-concurrent":
				q.MaxConcurrent = o.Quotas.MaxConcurrent
			case "llm-tokens-per-day":
				q.LLMTokensPerDay = o.Quotas.LLMTokensPerDay
			case "llm-cost-per-day-usd":
				q.LLMCostPerDayUSD = o.Quotas.LLMCostPerDayUSD
			}
		}
		o.Patch.Quotas = &q
	}
	if o.Patch == (client.TenantPatch{}) {
		return usagef("nothing to change: give --name, --suspend, --resume, a quota, --retention-days or a PII flag")
	}
	t, err := cli.PatchTenant(ctx, o.ID, o.Patch)
	if err != nil {
		return err
	}
	return printOne(f, t, func() [][2]string { return tenantFields(t) })
}

// TenantDeleteOptions are the options of tenant delete.
type TenantDeleteOptions struct {
	ID          string
	Force       bool
	ExportFirst string
}

func newTenantDeleteCmd(f *Factory) *cobra.Command {
	var o TenantDeleteOptions
	cmd := &cobra.Command{
		Use:   "delete <id>",
		Short: "Revoke a tenant's keys and delete it with all its data",
		Long: "Asks for confirmation by typing the tenant id unless --force. With --export-first FILE the\n" +
			"tenant's full history (every version, JSON lines) is written to FILE before anything is deleted.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			return tenantDeleteRun(cmd.Context(), f, &o)
		},
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "do not ask for confirmation")
	cmd.Flags().StringVar(&o.ExportFirst, "export-first", "", "write the full history to FILE before deleting")
	return cmd
}

func tenantDeleteRun(ctx context.Context, f *Factory, o *TenantDeleteOptions) error {
	cli, err := f.Client()
	if err != nil {
		return err
	}
	if _, err := cli.GetTenant(ctx, o.ID); err != nil {
		return err
	}
	if !o.Force {
		if !f.IO.StdinTTY {
			return usagef("refusing to delete tenant %s without confirmation: stdin is not a terminal; use --force", o.ID)
		}
		fmt.Fprintf(f.IO.ErrOut, "This deletes tenant %s with all its data and revokes its keys.\nType the tenant id to confirm: ", o.ID)
		line, _ := bufio.NewReader(f.IO.In).ReadString('\n')
		if strings.TrimSpace(line) != o.ID {
			return usagef("confirmation did not match; tenant %s not deleted", o.ID)
		}
	}
	if o.ExportFirst != "" {
		n, err := exportAllVersions(ctx, f, o.ID, o.ExportFirst)
		if err != nil {
			return fmt.Errorf("export before delete (nothing deleted): %w", err)
		}
		fmt.Fprintf(f.IO.ErrOut, "kgctl: exported %d versions of tenant %s to %s\n", n, o.ID, o.ExportFirst)
	}
	if err := cli.DropTenant(ctx, o.ID); err != nil {
		return err
	}
	fmt.Fprintf(f.IO.ErrOut, "kgctl: tenant %s deleted\n", o.ID)
	return nil
}

func retention(d int) string {
	if d == 0 {
		return "forever"
	}
	return strconv.Itoa(d)
}
