package badger_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
)

func TestKeyStore(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openDisk(t, dir, true)
	mustTenant(t, s, telamentis.Tenant{ID: "acme"})
	mustTenant(t, s, telamentis.Tenant{ID: "other"})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keys := []telamentis.APIKey{
		{ID: "b", Tenant: "acme", Role: telamentis.RoleWriter, Hash: []byte("hb"), CreatedAt: t0},
		{ID: "a", Tenant: "acme", Role: telamentis.RoleReader, Hash: []byte("ha"), CreatedAt: t0},
		{ID: "sys", Role: telamentis.RoleAdmin, Hash: []byte("hs"), CreatedAt: t0},
		{ID: "o", Tenant: "other", Role: telamentis.RoleReader, Hash: []byte("ho"), CreatedAt: t0},
	}
	for _, k := range keys {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateKey(ctx, keys[0]); telamentis.ErrorCode(err) != telamentis.CodeConflict {
		t.Errorf("duplicate key: %v", err)
	}
	if err := s.CreateKey(ctx, telamentis.APIKey{ID: "x", Tenant: "nope", Role: telamentis.RoleReader}); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Errorf("key of a missing tenant: %v", err)
	}
	if err := s.CreateKey(ctx, telamentis.APIKey{ID: "y", Role: "root"}); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		t.Errorf("key with a bad role: %v", err)
	}
	l, _ := s.ListKeys(ctx, "acme")
	if len(l) != 2 || l[0].ID != "a" || l[1].ID != "b" || !bytes.Equal(l[0].Hash, []byte("ha")) {
		t.Errorf("ListKeys(acme) = %+v", l)
	}
	if l, _ := s.ListKeys(ctx, ""); len(l) != 1 || l[0].ID != "sys" {
		t.Errorf("ListKeys(system) = %+v", l)
	}
	r, err := s.RevokeKey(ctx, "a", t0.Add(time.Hour))
	if err != nil || !r.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("revoke = %+v, %v", r, err)
	}
	if r, _ := s.RevokeKey(ctx, "a", t0.Add(2*time.Hour)); !r.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("second revoke moved RevokedAt to %v", r.RevokedAt)
	}
	if _, err := s.RevokeKey(ctx, "missing", t0); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Errorf("revoke missing: %v", err)
	}
	// Touches are exact in memory and persisted at most once a minute.
	for _, d := range []time.Duration{time.Minute, time.Minute + 10*time.Second} {
		if err := s.TouchKey(ctx, "b", t0.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	if k, _ := s.GetKey(ctx, "b"); !k.LastUsedAt.Equal(t0.Add(time.Minute + 10*time.Second)) {
		t.Errorf("in-memory last use = %v", k.LastUsedAt)
	}
	if err := s.DropTenant(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openDisk(t, dir, true)
	defer s.Close()
	if k, _ := s.GetKey(ctx, "b"); !k.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("persisted last use = %v, want the first touch of the minute", k.LastUsedAt)
	}
	if k, _ := s.GetKey(ctx, "a"); !k.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("revocation lost across reopen: %+v", k)
	}
	if _, err := s.GetKey(ctx, "o"); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Errorf("key of a dropped tenant survives: %v", err)
	}
	if n, _ := s.CountKeys(ctx); n != 3 {
		t.Errorf("CountKeys = %d, want 3", n)
	}
}

func TestMasterKeyLoading(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	for _, enc := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key), " " + hex.EncodeToString(key) + "\n"} {
		if k, err := badger.ParseMasterKey(enc); err != nil || !bytes.Equal(k, key) {
			t.Errorf("ParseMasterKey(%q) = %x, %v", enc, k, err)
		}
	}
	for _, bad := range []string{"", "abcd", hex.EncodeToString(key[:16]), strings.Repeat("z", 64)} {
		if _, err := badger.ParseMasterKey(bad); err == nil {
			t.Errorf("ParseMasterKey(%q) accepted", bad)
		}
	}
	dir := t.TempDir()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	// No key configured: a dev key file is created, 0600, with a warning,
	// and reused next time.
	dev := filepath.Join(dir, "keys", "dev.key")
	k1, src, err := badger.LoadMasterKey(getenv, dev, logger)
	if err != nil || len(k1) != 32 || !strings.Contains(src, "dev") {
		t.Fatalf("dev key: %x %q %v", k1, src, err)
	}
	if fi, err := os.Stat(dev); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("dev key file mode: %v %v", fi.Mode(), err)
	}
	if !strings.Contains(logs.String(), "NO MASTER KEY CONFIGURED") {
		t.Errorf("no loud warning logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), hex.EncodeToString(k1)) {
		t.Error("the key itself was logged")
	}
	k2, _, err := badger.LoadMasterKey(getenv, dev, logger)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("dev key not reused: %v", err)
	}

	// A key file given by env wins over the dev file; a readable-by-others
	// file is refused.
	kf := filepath.Join(dir, "master.key")
	os.WriteFile(kf, []byte(hex.EncodeToString(key)), 0o644)
	env[badger.MasterKeyFileEnv] = kf
	if _, _, err := badger.LoadMasterKey(getenv, dev, logger); err == nil {
		t.Error("key file with mode 0644 accepted")
	}
	os.Chmod(kf, 0o600)
	if k, _, err := badger.LoadMasterKey(getenv, dev, logger); err != nil || !bytes.Equal(k, key) {
		t.Errorf("key file: %x %v", k, err)
	}

	// The key itself in env wins over everything.
	other := bytes.Repeat([]byte{0x01}, 32)
	env[badger.MasterKeyEnv] = hex.EncodeToString(other)
	if k, src, err := badger.LoadMasterKey(getenv, dev, logger); err != nil || !bytes.Equal(k, other) || strings.Contains(src, hex.EncodeToString(other)) {
		t.Errorf("env key: %x %q %v", k, src, err)
	}
	env[badger.MasterKeyEnv] = "not-a-key"
	if _, _, err := badger.LoadMasterKey(getenv, dev, logger); err == nil {
		t.Error("bad env key accepted")
	}
}

// TestRevokeKeyAdvancesScheduledRevocation checks the KeyStore contract: a
// revocation scheduled in the future (a rotation's overlap) is moved earlier
// by a later revocation, and an earlier one is never moved later.
func TestRevokeKeyAdvancesScheduledRevocation(t *testing.T) {
	ctx := t.Context()
	s := openDisk(t, t.TempDir(), true)
	mustTenant(t, s, telamentis.Tenant{ID: "acme"})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreateKey(ctx, telamentis.APIKey{ID: "k", Tenant: "acme", Role: telamentis.RoleReader, Hash: []byte("h"), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	later, now, latest := t0.Add(48*time.Hour), t0.Add(time.Hour), t0.Add(72*time.Hour)
	for _, step := range []struct {
		at, want time.Time
	}{{later, later}, {now, now}, {latest, now}} {
		k, err := s.RevokeKey(ctx, "k", step.at)
		if err != nil {
			t.Fatal(err)
		}
		if !k.RevokedAt.Equal(step.want) {
			t.Errorf("RevokeKey(%v): revoked_at = %v, want %v", step.at, k.RevokedAt, step.want)
		}
		if got, _ := s.GetKey(ctx, "k"); !got.RevokedAt.Equal(step.want) {
			t.Errorf("GetKey after RevokeKey(%v): revoked_at = %v, want %v", step.at, got.RevokedAt, step.want)
		}
	}
}

// TestDropTenantRemovesKeys: dropping a tenant, shared or dedicated,
// deletes every API key row of it, revoked ones included, and they stay
// gone after a reopen; other tenants' and system keys stay.
func TestDropTenantRemovesKeys(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openDisk(t, dir, true)
	now := time.Now().UTC()
	for _, tn := range []telamentis.Tenant{{ID: "gone"}, {ID: "solo", Isolation: telamentis.IsolationDedicated}, {ID: "stays"}} {
		mustTenant(t, s, tn)
		for i, name := range []string{"live", "revoked", "scheduled"} {
			k := telamentis.APIKey{ID: tn.ID + "-" + name, Tenant: tn.ID, Role: telamentis.RoleReader, Name: "canary " + name, Hash: []byte{byte(i + 1)}}
			if err := s.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.RevokeKey(ctx, tn.ID+"-revoked", now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RevokeKey(ctx, tn.ID+"-scheduled", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateKey(ctx, telamentis.APIKey{ID: "adm", Role: telamentis.RoleAdmin, Hash: []byte{9}}); err != nil {
		t.Fatal(err)
	}
	check := func(s *badger.Store) {
		t.Helper()
		for _, id := range []string{"gone", "solo"} {
			if l, err := s.ListKeys(ctx, id); err != nil || len(l) != 0 {
				t.Errorf("keys of dropped tenant %s: %+v %v", id, l, err)
			}
			for _, name := range []string{"live", "revoked", "scheduled"} {
				if _, err := s.GetKey(ctx, id+"-"+name); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
					t.Errorf("key %s-%s after the drop: %v", id, name, err)
				}
			}
			if err := s.CreateKey(ctx, telamentis.APIKey{ID: id + "-late", Tenant: id, Role: telamentis.RoleReader, Hash: []byte{9}}); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
				t.Errorf("key for dropped tenant %s: %v", id, err)
			}
		}
		if l, _ := s.ListKeys(ctx, "stays"); len(l) != 3 {
			t.Errorf("other tenant keeps %d keys, want 3", len(l))
		}
		if n, _ := s.CountKeys(ctx); n != 4 {
			t.Errorf("CountKeys = %d, want 4 (other tenant's and the admin key)", n)
		}
	}
	for _, id := range []string{"gone", "solo"} {
		if err := s.DropTenant(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	check(s)
	s.Close()
	s = openDisk(t, dir, true)
	defer s.Close()
	check(s)
}
