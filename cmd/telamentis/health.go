package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/telamentis/telamentis/transport"
)

// healthCommand is `telamentis health`: the container's HEALTHCHECK
// (distroless has no curl). It reads the same configuration as serve and
// probes that server's own API listener.
func healthCommand(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	var (
		path    string
		timeout time.Duration
	)
	cmd := withConfig(&cobra.Command{
		Use:   "health",
		Short: "Probe the configured API listener's /healthz or /readyz; exit 0 if it answers 200, else 1",
		Long: "Probe the API listener that the configuration (flags, TELAMENTIS_* variables, --config or\n" +
			"TELAMENTIS_CONFIG) describes: over TLS when tls_cert_file is set, else plain HTTP; a\n" +
			"wildcard listen address (0.0.0.0, ::) is probed on loopback. The probe sends no\n" +
			"credentials and reads only the status, so, like a Kubernetes HTTPS probe, it does not\n" +
			"verify the server's certificate.",
	}, getenv, func(cmd *cobra.Command, c Config) error {
		return probe(cmd.Context(), c, path, timeout, stdout)
	})
	cmd.Flags().StringVar(&path, "path", "/healthz", "what to probe: /healthz (alive) or /readyz (ready for traffic)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}

// probe GETs path on the listener of c and reports whether it answered 200.
func probe(ctx context.Context, c Config, path string, timeout time.Duration, stdout io.Writer) error {
	if path != "/healthz" && path != "/readyz" {
		return fmt.Errorf("health: --path: %q is not /healthz or /readyz", path)
	}
	if timeout <= 0 || timeout > time.Minute {
		return errors.New("health: --timeout: must be in (0, 1m]")
	}
	url, err := probeURL(c, path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	client := &http.Client{
		Transport: &http.Transport{
			// Loopback to our own listener, no credentials sent, only the
			// status read: nothing a forged certificate could learn.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
			Proxy:             nil, // never through HTTP(S)_PROXY
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		if c.Security.ClientAuth == string(transport.ClientAuthRequired) {
			return fmt.Errorf("health: %s: %w (client_auth is required: the probe has no client certificate)", url, err)
		}
		return fmt.Errorf("health: %w", err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %d", url, res.StatusCode)
	}
	fmt.Fprintf(stdout, "ok: %s %d\n", url, res.StatusCode)
	return nil
}

// probeURL is the URL of path on the configured API listener. A wildcard
// host is probed on the loopback address of its family.
func probeURL(c Config, path string) (string, error) {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return "", fmt.Errorf("health: listen %q: %w", c.Listen, err)
	}
	if a, err := netip.ParseAddr(host); host == "" || err == nil && a.IsUnspecified() {
		host = "127.0.0.1"
		if err == nil && a.Is6() {
			host = "::1"
		}
	}
	scheme := "http"
	if c.Security.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path, nil
}
