package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clientCert writes a self-signed client certificate and its key (PEM)
// and returns their paths and the certificate.
func clientCert(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "kgctl test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, cert
}

// TestTLS puts a TLS-terminating proxy that requires a client certificate
// in front of the real server, as a deployment would.
func TestTLS(t *testing.T) {
	if server.endpoint == "" {
		t.Skip("end-to-end: no server")
	}
	_, ta := newTenant(t, "reader")
	dir := t.TempDir()
	certFile, keyFile, cert := clientCert(t, dir)
	target, _ := url.Parse(server.endpoint)
	proxy := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	proxy.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	proxy.StartTLS()
	defer proxy.Close()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw}), 0o600)

	e := env{"TELAMENTIS_ENDPOINT": proxy.URL, "TELAMENTIS_API_KEY_FILE": ta["TELAMENTIS_API_KEY_FILE"]}
	// An unknown server certificate is refused.
	if r := kgctl(t, e, "", "whoami", "--client-cert", certFile, "--client-key", keyFile); r.code != exitError || !strings.Contains(r.err, "certificate") {
		t.Fatalf("unverified server: exit %d %q", r.code, r.err)
	}
	// The server refuses a client without a certificate.
	if r := kgctl(t, e, "", "whoami", "--ca-cert", ca); r.code != exitError {
		t.Fatalf("no client certificate: exit %d %q", r.code, r.err)
	}
	// CA and client certificate: it works, from flags or from env.
	r := run(t, e, "whoami", "--ca-cert", ca, "--client-cert", certFile, "--client-key", keyFile)
	if !strings.Contains(r.out, "reader") {
		t.Fatalf("whoami over mTLS: %q", r.out)
	}
	e["TELAMENTIS_CA_CERT"], e["TELAMENTIS_CLIENT_CERT"], e["TELAMENTIS_CLIENT_KEY"] = ca, certFile, keyFile
	run(t, e, "query", "nodes")
	if r := kgctl(t, e, "", "whoami", "--client-key", ""); r.code != exitUsage {
		t.Fatalf("cert without key: exit %d", r.code)
	}
	// Skipping verification takes the explicit flag and warns.
	delete(e, "TELAMENTIS_CA_CERT")
	r = run(t, e, "--insecure-skip-verify", "whoami")
	if !strings.Contains(r.err, "WARNING") {
		t.Fatalf("no warning: %q", r.err)
	}
}
