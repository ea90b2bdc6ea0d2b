package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/client"
)

// backupHeader is the first line of a backup (inside the encryption).
type backupHeader struct {
	Format    string            `json:"kgctl_backup"`
	Tenant    telamentis.Tenant `json:"tenant"`
	CreatedAt time.Time         `json:"created_at"`
	Endpoint  string            `json:"endpoint"`
}

// backupTrailer is the last line: a backup without it is truncated.
type backupTrailer struct {
	End struct {
		Versions int64 `json:"versions"`
	} `json:"kgctl_backup_end"`
}

const backupFormat = "telamentis-backup-v1"

// BackupOptions are the options of backup.
type BackupOptions struct {
	Output         string
	Recipients     []string
	RecipientFiles []string
	AllowMaskedPII bool
}

func newBackupCmd(f *Factory) *cobra.Command {
	var o BackupOptions
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Write a tenant's full bitemporal history, encrypted with age, to a file",
		Long: "Streams every stored version of every node and edge, with its transaction times, from the\n" +
			"server and encrypts it client-side with age to every --recipient (age1…) and --recipients-file.\n" +
			"Nothing unencrypted touches the disk. Restore with kgctl restore.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return backupRun(cmd.Context(), f, &o) },
	}
	cmd.Flags().StringVar(&o.Output, "output", "", "backup file (required; - = stdout)")
	cmd.Flags().StringArrayVar(&o.Recipients, "recipient", nil, "age recipient (age1…), repeatable")
	cmd.Flags().StringArrayVar(&o.RecipientFiles, "recipients-file", nil, "file of age recipients, one a line")
	cmd.Flags().BoolVar(&o.AllowMaskedPII, "allow-masked-pii", false, "back up with a key that sees PII properties masked")
	var keyOut string
	keygen := &cobra.Command{
		Use:   "keygen",
		Short: "Create an age identity file (mode 0600) and print its recipient",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyOut == "" {
				return usagef("--output is required")
			}
			id, err := age.GenerateX25519Identity()
			if err != nil {
				return err
			}
			fh, err := os.OpenFile(keyOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return usagef("%v", err)
			}
			fmt.Fprintf(fh, "# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
			if err := fh.Close(); err != nil {
				return err
			}
			_, err = fmt.Fprintln(f.IO.Out, id.Recipient().String())
			return err
		},
	}
	keygen.Flags().StringVar(&keyOut, "output", "", "identity file to create")
	cmd.AddCommand(keygen)
	return cmd
}

func parseRecipients(list, files []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, r := range list {
		rs, err := age.ParseRecipients(strings.NewReader(r))
		if err != nil {
			return nil, usagef("--recipient %q: %v", r, err)
		}
		out = append(out, rs...)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, usagef("--recipients-file: %v", err)
		}
		rs, err := age.ParseRecipients(bytes.NewReader(b))
		if err != nil {
			return nil, usagef("--recipients-file %s: %v", p, err)
		}
		out = append(out, rs...)
	}
	if len(out) == 0 {
		return nil, usagef("give at least one --recipient or --recipients-file")
	}
	return out, nil
}

func backupRun(ctx context.Context, f *Factory, o *BackupOptions) error {
	if o.Output == "" {
		return usagef("--output is required")
	}
	recips, err := parseRecipients(o.Recipients, o.RecipientFiles)
	if err != nil {
		return err
	}
	tenant, err := f.tenant(ctx)
	if err != nil {
		return err
	}
	cli, cleanup, err := f.tenantAdminClient(ctx, tenant, "backup", true)
	if err != nil {
		return err
	}
	defer cleanup()
	t, err := cli.GetTenant(ctx, tenant)
	if err != nil {
		return err
	}
	if len(t.PII.Fields) > 0 && !o.AllowMaskedPII {
		// A key without pii gets PII properties masked: such a backup
		// would restore "[pii]" in place of the data.
		p, err := cli.Whoami(ctx)
		if err != nil {
			return err
		}
		if !p.PII {
			return telamentis.Errorf(telamentis.CodeForbidden,
				"this key may not see the tenant's PII properties (%s), so the backup would hold them masked; use a key with pii, a system admin key, or --allow-masked-pii",
				strings.Join(t.PII.Fields, ", "))
		}
	}
	st, err := cli.Export(ctx, tenant, client.ExportOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	out, err := openOutput(f, o.Output)
	if err != nil {
		return err
	}
	defer out.abort()
	aw, err := age.Encrypt(out.w, recips...)
	if err != nil {
		return fmt.Errorf("backup: encrypt: %w", err)
	}
	bw := bufio.NewWriterSize(aw, 256<<10)
	c, _ := f.Config()
	hdr, _ := json.Marshal(backupHeader{Format: backupFormat, Tenant: t, CreatedAt: time.Now().UTC(), Endpoint: c.Endpoint})
	bw.Write(hdr)
	bw.WriteByte('\n')
	var n int64
	start := time.Now()
	for {
		line, err := st.NextRaw()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(line, nodePrefix) && !bytes.HasPrefix(line, edgePrefix) {
			return errors.New("backup: unexpected line from the server")
		}
		bw.Write(line)
		if err := bw.WriteByte('\n'); err != nil {
			return fmt.Errorf("backup: write: %w", err)
		}
		n++
	}
	var tr backupTrailer
	tr.End.Versions = n
	b, _ := json.Marshal(tr)
	bw.Write(b)
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("backup: write: %w", err)
	}
	if err := aw.Close(); err != nil {
		return fmt.Errorf("backup: encrypt: %w", err)
	}
	if err := out.commit(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(f.IO.ErrOut, "kgctl: backed up %d versions of tenant %s in %.2fs\n", n, tenant, time.Since(start).Seconds())
	return nil
}

// RestoreOptions are the options of restore.
type RestoreOptions struct {
	Input      string
	Identities []string
	Create     bool
}

func newRestoreCmd(f *Factory) *cobra.Command {
	var o RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restore a backup into a new or empty tenant (--tenant), preserving transaction times",
		Long: "Decrypts the backup with the age identities of --identity files, checks it is complete, creates\n" +
			"the tenant (with the backed-up settings) unless it exists, and streams every version to the\n" +
			"server's import route (system admin), which keeps the original transaction times.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return restoreRun(cmd.Context(), f, &o) },
	}
	cmd.Flags().StringVar(&o.Input, "input", "", "backup file (required; - = stdin)")
	cmd.Flags().StringArrayVar(&o.Identities, "identity", nil, "age identity file (AGE-SECRET-KEY-…), repeatable")
	cmd.Flags().BoolVar(&o.Create, "create", true, "create the tenant if it does not exist")
	return cmd
}

func parseIdentities(files []string) ([]age.Identity, error) {
	var out []age.Identity
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, usagef("--identity: %v", err)
		}
		ids, err := age.ParseIdentities(bytes.NewReader(b))
		if err != nil {
			return nil, usagef("--identity %s: %v", p, err)
		}
		out = append(out, ids...)
	}
	if len(out) == 0 {
		return nil, usagef("give at least one --identity")
	}
	return out, nil
}

// openBackup decrypts a backup and reads its header.
func openBackup(in io.Reader, ids []age.Identity) (*bufio.Reader, backupHeader, error) {
	var h backupHeader
	r, err := age.Decrypt(in, ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, h, telamentis.Errorf(telamentis.CodeInvalid, "backup: no identity matches the backup's recipients")
		}
		return nil, h, telamentis.Errorf(telamentis.CodeInvalid, "backup: cannot decrypt: %v", err)
	}
	br := bufio.NewReaderSize(r, 256<<10)
	line, err := br.ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &h) != nil || h.Format != backupFormat {
		return nil, h, telamentis.Errorf(telamentis.CodeInvalid, "backup: not a kgctl backup")
	}
	return br, h, nil
}

func restoreRun(ctx context.Context, f *Factory, o *RestoreOptions) error {
	if o.Input == "" {
		return usagef("--input is required")
	}
	ids, err := parseIdentities(o.Identities)
	if err != nil {
		return err
	}
	c, err := f.Config()
	if err != nil {
		return err
	}
	if c.Tenant == "" {
		return usagef("name the tenant to restore into with --tenant")
	}
	var in io.Reader = f.IO.In
	if o.Input != "-" {
		fh, err := os.Open(o.Input)
		if err != nil {
			return usagef("%v", err)
		}
		defer fh.Close()
		in = fh
	}
	br, hdr, err := openBackup(in, ids)
	if err != nil {
		return err
	}
	cli, err := f.Client()
	if err != nil {
		return err
	}
	created := false
	if _, err := cli.GetTenant(ctx, c.Tenant); err != nil {
		if telamentis.ErrorCode(err) != telamentis.CodeNotFound || !o.Create {
			return err
		}
		t := hdr.Tenant
		t.ID, t.CreatedAt, t.UpdatedAt = c.Tenant, time.Time{}, time.Time{}
		if _, err := cli.CreateTenant(ctx, t); err != nil {
			return err
		}
		created = true
		fmt.Fprintf(f.IO.ErrOut, "kgctl: created tenant %s (settings of %s)\n", c.Tenant, hdr.Tenant.ID)
	}
	// Stream the versions; the pipe fails the request if the backup turns
	// out to be truncated or corrupt, so nothing partial is committed by a
	// server that imports atomically.
	pr, pw := io.Pipe()
	var n int64
	go func() {
		var err error
		n, err = copyBackup(br, pw)
		pw.CloseWithError(err)
	}()
	start := time.Now()
	sum, err := cli.ImportStream(ctx, c.Tenant, pr)
	if err != nil {
		pr.CloseWithError(err)
		if created {
			// Leave nothing half-restored behind.
			if derr := cli.DropTenant(context.WithoutCancel(ctx), c.Tenant); derr == nil {
				fmt.Fprintf(f.IO.ErrOut, "kgctl: restore failed; removed tenant %s again\n", c.Tenant)
			}
		}
		return err
	}
	fmt.Fprintf(f.IO.ErrOut, "kgctl: restored %d versions into tenant %s in %.2fs\n", n, c.Tenant, time.Since(start).Seconds())
	return printOne(f, sum, func() [][2]string {
		return [][2]string{{"tenant", c.Tenant}, {"lines", strconv.Itoa(sum.Lines)},
			{"node_versions", strconv.Itoa(sum.NodeVersions)}, {"edge_versions", strconv.Itoa(sum.EdgeVersions)}}
	})
}

// copyBackup copies the version lines of a decrypted backup to w and
// checks the end marker: a truncated or altered backup is an error.
func copyBackup(br *bufio.Reader, w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	var n int64
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			return n, errors.New("backup: truncated (no end marker)")
		}
		if err != nil && err != io.EOF {
			return n, fmt.Errorf("backup: read: %w", err)
		}
		line = bytes.TrimRight(line, "\n")
		if bytes.HasPrefix(line, []byte(`{"kgctl_backup_end":`)) {
			var tr backupTrailer
			if json.Unmarshal(line, &tr) != nil || tr.End.Versions != n {
				return n, fmt.Errorf("backup: corrupt (the end marker counts %d versions, read %d)", tr.End.Versions, n)
			}
			return n, bw.Flush()
		}
		if !bytes.HasPrefix(line, nodePrefix) && !bytes.HasPrefix(line, edgePrefix) {
			return n, errors.New("backup: corrupt line")
		}
		bw.Write(line)
		if err := bw.WriteByte('\n'); err != nil {
			return n, err
		}
		n++
	}
}
