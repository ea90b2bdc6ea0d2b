package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v4"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/client"
)

// Config is kgctl's configuration. Each setting resolves flag, then
// environment, then the config file, then the default. The API key comes
// only from TELAMENTIS_API_KEY, a key file (--api-key-file,
// TELAMENTIS_API_KEY_FILE or the file's api_key_file), never a flag value.
type Config struct {
	Endpoint           string
	APIKey             telamentis.Secret
	APIKeyFile         string
	Tenant             string
	CACert             string
	ClientCert         string
	ClientKey          string
	InsecureSkipVerify bool
	Output             string
	Timeout            time.Duration

	// sources names where each setting came from: flag, env NAME, file
	// PATH, default.
	sources map[string]string
}

// fileConfig is the YAML config file; unknown keys are errors.
type fileConfig struct {
	Endpoint   string `yaml:"endpoint"`
	APIKeyFile string `yaml:"api_key_file"`
	Tenant     string `yaml:"tenant"`
	CACert     string `yaml:"ca_cert"`
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`
	Output     string `yaml:"output"`
	Timeout    string `yaml:"timeout"`
}

// DefaultEndpoint is the server's default listen address.
const DefaultEndpoint = "http://127.0.0.1:8080"

// setting describes one configuration value.
type setting struct {
	name   string // flag name
	env    string
	file   func(*fileConfig) string
	target func(*Config) *string
	def    string
}

var settings = []setting{
	{"endpoint", "TELAMENTIS_ENDPOINT", func(f *fileConfig) string { return f.Endpoint }, func(c *Config) *string { return &c.Endpoint }, DefaultEndpoint},
	{"tenant", "TELAMENTIS_TENANT", func(f *fileConfig) string { return f.Tenant }, func(c *Config) *string { return &c.Tenant }, ""},
	{"ca-cert", "TELAMENTIS_CA_CERT", func(f *fileConfig) string { return f.CACert }, func(c *Config) *string { return &c.CACert }, ""},
	{"client-cert", "TELAMENTIS_CLIENT_CERT", func(f *fileConfig) string { return f.ClientCert }, func(c *Config) *string { return &c.ClientCert }, ""},
	{"client-key", "TELAMENTIS_CLIENT_KEY", func(f *fileConfig) string { return f.ClientKey }, func(c *Config) *string { return &c.ClientKey }, ""},
	{"output", "KGCTL_OUTPUT", func(f *fileConfig) string { return f.Output }, func(c *Config) *string { return &c.Output }, "table"},
}

// Factory builds what commands need, lazily: the configuration and the
// API client.
type Factory struct {
	IO     *IOStreams
	Getenv func(string) string

	flags    *pflag.FlagSet
	cfgPath  string
	insecure bool
	keyFile  string
	timeout  time.Duration
	cfg      *Config
	cli      *client.Client
}

func (f *Factory) bindGlobalFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	f.flags = pf
	pf.StringVar(&f.cfgPath, "config", "", "config file (default $XDG_CONFIG_HOME/telamentis/kgctl.yaml)")
	pf.String("endpoint", "", "server URL (default "+DefaultEndpoint+")")
	pf.String("tenant", "", "tenant for graph commands (default: the credential's tenant)")
	pf.StringVar(&f.keyFile, "api-key-file", "", "file holding the API key (mode 0600 or stricter)")
	pf.String("ca-cert", "", "PEM file of CA certificates to trust")
	pf.String("client-cert", "", "PEM client certificate for mutual TLS")
	pf.String("client-key", "", "PEM client key for mutual TLS")
	pf.BoolVar(&f.insecure, "insecure-skip-verify", false, "do not verify the server's TLS certificate (dangerous)")
	pf.StringP("output", "o", "", "output format: table, json or yaml")
	pf.DurationVar(&f.timeout, "timeout", 0, "timeout of each non-streaming request (0 = none)")
}

func (f *Factory) getenv(k string) string {
	if f.Getenv == nil {
		return ""
	}
	return f.Getenv(k)
}

// configPath returns the config file path and whether it was named
// explicitly (then it must exist).
func (f *Factory) configPath() (string, bool) {
	if f.cfgPath != "" {
		return f.cfgPath, true
	}
	if p := f.getenv("KGCTL_CONFIG"); p != "" {
		return p, true
	}
	if x := f.getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "telamentis", "kgctl.yaml"), false
	}
	if h := f.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "telamentis", "kgctl.yaml"), false
	}
	return "", false
}

func readFileConfig(path string, required bool) (*fileConfig, error) {
	var fc fileConfig
	if path == "" {
		return &fc, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !required {
			return &fc, nil
		}
		return nil, usagef("config %s: %v", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, usagef("config %s: %v", path, err)
	}
	return &fc, nil
}

// Config resolves the configuration once.
func (f *Factory) Config() (*Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	path, required := f.configPath()
	fc, err := readFileConfig(path, required)
	if err != nil {
		return nil, err
	}
	c := &Config{sources: map[string]string{}}
	for _, s := range settings {
		t := s.target(c)
		switch {
		case f.flags != nil && f.flags.Changed(s.name):
			*t, _ = f.flags.GetString(s.name)
			c.sources[s.name] = "flag --" + s.name
		case f.getenv(s.env) != "":
			*t = f.getenv(s.env)
			c.sources[s.name] = "env " + s.env
		case s.file(fc) != "":
			*t = s.file(fc)
			c.sources[s.name] = "file " + path
		default:
			*t = s.def
			c.sources[s.name] = "default"
		}
	}
	switch c.Output {
	case "table", "json", "yaml":
	default:
		return nil, usagef("output %q: must be table, json or yaml", c.Output)
	}
	// Timeout.
	switch {
	case f.flags != nil && f.flags.Changed("timeout"):
		c.Timeout, c.sources["timeout"] = f.timeout, "flag --timeout"
	case f.getenv("KGCTL_TIMEOUT") != "":
		d, err := time.ParseDuration(f.getenv("KGCTL_TIMEOUT"))
		if err != nil {
			return nil, usagef("KGCTL_TIMEOUT: %v", err)
		}
		c.Timeout, c.sources["timeout"] = d, "env KGCTL_TIMEOUT"
	case fc.Timeout != "":
		d, err := time.ParseDuration(fc.Timeout)
		if err != nil {
			return nil, usagef("config %s: timeout: %v", path, err)
		}
		c.Timeout, c.sources["timeout"] = d, "file "+path
	default:
		c.sources["timeout"] = "default"
	}
	// TLS verification can only be turned off by the flag.
	c.InsecureSkipVerify = f.insecure
	c.sources["insecure-skip-verify"] = "default"
	if f.insecure {
		c.sources["insecure-skip-verify"] = "flag --insecure-skip-verify"
	}
	// The API key: flag file > env key > env file > config file's key file.
	keyFile, keySrc := "", ""
	switch {
	case f.keyFile != "":
		keyFile, keySrc = f.keyFile, "flag --api-key-file"
	case f.getenv("TELAMENTIS_API_KEY") != "":
		c.APIKey = telamentis.NewSecret(strings.TrimSpace(f.getenv("TELAMENTIS_API_KEY")))
		keySrc = "env TELAMENTIS_API_KEY"
	case f.getenv("TELAMENTIS_API_KEY_FILE") != "":
		keyFile, keySrc = f.getenv("TELAMENTIS_API_KEY_FILE"), "env TELAMENTIS_API_KEY_FILE"
	case fc.APIKeyFile != "":
		keyFile, keySrc = fc.APIKeyFile, "file "+path
	default:
		keySrc = "unset"
	}
	if keyFile != "" {
		k, err := readKeyFile(keyFile)
		if err != nil {
			return nil, err
		}
		c.APIKey, c.APIKeyFile = k, keyFile
	}
	c.sources["api-key"] = keySrc
	f.cfg = c
	return c, nil
}

// readKeyFile reads an API key from a file that only its owner may read.
func readKeyFile(path string) (telamentis.Secret, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return telamentis.Secret{}, usagef("api key file: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return telamentis.Secret{}, usagef("api key file %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return telamentis.Secret{}, usagef("api key file %s: readable by group or others (mode %04o); run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return telamentis.Secret{}, usagef("api key file: %v", err)
	}
	k := strings.TrimSpace(string(b))
	if k == "" || strings.ContainsAny(k, " \t\r\n") {
		return telamentis.Secret{}, usagef("api key file %s: must hold one key", path)
	}
	return telamentis.NewSecret(k), nil
}

// Client returns the API client for commands that need a credential.
// Without an API key configured it sends nothing and says where to set
// one, instead of letting the server answer a bare 401.
func (f *Factory) Client() (*client.Client, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	if c.APIKey.IsZero() {
		path, _ := f.configPath()
		return nil, telamentis.Errorf(telamentis.CodeUnauthenticated,
			"no API key is set: put the key in a file only you can read (chmod 600) and name it with "+
				"TELAMENTIS_API_KEY_FILE, --api-key-file or api_key_file in %s, or set TELAMENTIS_API_KEY; "+
				"kgctl config view shows what is set", orDash(path))
	}
	return f.anyClient()
}

// anyClient returns the API client, with or without a credential (health
// needs none).
func (f *Factory) anyClient() (*client.Client, error) {
	if f.cli != nil {
		return f.cli, nil
	}
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	cli, err := f.newClient(c, c.APIKey)
	if err != nil {
		return nil, err
	}
	f.cli = cli
	return cli, nil
}

// newClient builds a client for the configuration with key.
func (f *Factory) newClient(c *Config, key telamentis.Secret) (*client.Client, error) {
	opts := []client.Option{client.WithAPIKey(key), client.WithUserAgent("kgctl/" + version), client.WithTimeout(c.Timeout)}
	tc, err := f.tlsConfig(c)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, client.WithTLS(tc))
	}
	cli, err := client.New(c.Endpoint, opts...)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return cli, nil
}

func (f *Factory) tlsConfig(c *Config) (*tls.Config, error) {
	if c.CACert == "" && c.ClientCert == "" && c.ClientKey == "" && !c.InsecureSkipVerify {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, usagef("ca cert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("ca cert %s: no PEM certificates", c.CACert)
		}
		tc.RootCAs = pool
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		return nil, usagef("client cert and client key go together")
	}
	if c.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, usagef("client cert: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if c.InsecureSkipVerify {
		fmt.Fprintln(f.IO.ErrOut, "kgctl: WARNING: TLS certificate verification is off (--insecure-skip-verify); the connection can be intercepted")
		tc.InsecureSkipVerify = true
	}
	return tc, nil
}

// tenant returns the tenant for graph commands: --tenant or the
// credential's own.
func (f *Factory) tenant(ctx context.Context) (string, error) {
	t, _, err := f.scope(ctx, false)
	return t, err
}

// scope returns the tenant a command acts on — --tenant, else the
// credential's own — and the client. A system admin key without --tenant
// gives "" when system is true (key commands manage system keys), else a
// usage error.
func (f *Factory) scope(ctx context.Context, system bool) (string, *client.Client, error) {
	c, err := f.Config()
	if err != nil {
		return "", nil, err
	}
	cli, err := f.Client()
	if err != nil {
		return "", nil, err
	}
	if c.Tenant != "" {
		if !telamentis.ValidTenantID(c.Tenant) {
			return "", nil, usagef("tenant %q: not a valid tenant id", c.Tenant)
		}
		return c.Tenant, cli, nil
	}
	p, err := cli.Whoami(ctx)
	if err != nil {
		return "", nil, err
	}
	if p.Tenant == "" && !system {
		return "", nil, usagef("the credential is a system admin key: name the tenant with --tenant")
	}
	c.Tenant, c.sources["tenant"] = p.Tenant, "credential"
	return p.Tenant, cli, nil
}

// tenantAdminClient returns a client allowed to read all of tenant's data:
// the configured credential, or — for a system admin key, which does not
// read graph data — a tenant_admin key issued for the operation (with pii
// when asked), expiring within the hour. The returned cleanup revokes it.
// A stream is authorised when it starts, so the key is needed only briefly.
func (f *Factory) tenantAdminClient(ctx context.Context, tenant, purpose string, pii bool) (*client.Client, func(), error) {
	cli, err := f.Client()
	if err != nil {
		return nil, nil, err
	}
	p, err := cli.Whoami(ctx)
	if err != nil {
		return nil, nil, err
	}
	if p.Role != telamentis.RoleAdmin || p.Tenant != "" {
		return cli, func() {}, nil
	}
	k, sec, err := cli.IssueKey(ctx, telamentis.NewKey{Tenant: tenant, Role: telamentis.RoleTenantAdmin, PII: pii,
		Name: "kgctl " + purpose, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(f.IO.ErrOut, "kgctl: issued temporary tenant_admin key %s for %s\n", k.ID, purpose)
	c, _ := f.Config()
	tc, err := f.newClient(c, sec)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		ctx := context.WithoutCancel(ctx)
		if _, err := cli.RevokeTenantKey(ctx, tenant, k.ID); err != nil && telamentis.ErrorCode(err) != telamentis.CodeNotFound {
			fmt.Fprintf(f.IO.ErrOut, "kgctl: could not revoke temporary key %s: %s\n", k.ID, errorLine(err))
		}
		tc.Close()
	}
	return tc, cleanup, nil
}

func newConfigCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show kgctl's configuration"}
	view := &cobra.Command{
		Use:   "view",
		Short: "Show each setting and where it came from (never a secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return configViewRun(f, &ConfigViewOptions{})
		},
	}
	cmd.AddCommand(view)
	return cmd
}

// configRow is one line of config view.
type configRow struct {
	Setting string `json:"setting"`
	Value   string `json:"value"`
	Source  string `json:"source"`
}

// ConfigViewOptions are the options of config view.
type ConfigViewOptions struct{}

func configViewRun(f *Factory, _ *ConfigViewOptions) error {
	c, err := f.Config()
	if err != nil {
		return err
	}
	path, _ := f.configPath()
	key := "(unset)"
	if !c.APIKey.IsZero() {
		key = "(set, hidden)"
		if id := keyID(c.APIKey.Reveal()); id != "" {
			key = "(set, hidden) id " + id
		}
	}
	if c.APIKeyFile != "" {
		key += " from " + c.APIKeyFile
	}
	rows := []configRow{
		{"config", path, "kgctl"},
		{"endpoint", c.Endpoint, c.sources["endpoint"]},
		{"api-key", key, c.sources["api-key"]},
		{"tenant", c.Tenant, c.sources["tenant"]},
		{"ca-cert", c.CACert, c.sources["ca-cert"]},
		{"client-cert", c.ClientCert, c.sources["client-cert"]},
		{"client-key", c.ClientKey, c.sources["client-key"]},
		{"insecure-skip-verify", strconv.FormatBool(c.InsecureSkipVerify), c.sources["insecure-skip-verify"]},
		{"output", c.Output, c.sources["output"]},
		{"timeout", c.Timeout.String(), c.sources["timeout"]},
	}
	return printList(f, rows, []string{"SETTING", "VALUE", "SOURCE"}, func(r configRow) []string {
		return []string{r.Setting, r.Value, r.Source}
	})
}

// keyID returns the id part of a tm_<id>_<secret> key, or "".
func keyID(k string) string {
	rest, ok := strings.CutPrefix(k, "tm_")
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, "_")
	if !ok {
		return ""
	}
	return id
}
