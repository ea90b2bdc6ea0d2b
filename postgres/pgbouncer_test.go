package postgres_test

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/postgres"
	"github.com/telamentis/telamentis/storetest"
)

// pgBouncer starts PgBouncer in transaction pool mode on a free loopback
// port, in front of the test database, with nothing but the defaults
// otherwise (no ignore_startup_parameters). It returns the service and
// owner DSNs through it. The test skips when pgbouncer is not installed.
func pgBouncer(t *testing.T, d *testDB) (svc, owner string) {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr != nil {
			t.Skip("pgbouncer not installed (apt-get install -y pgbouncer)")
		}
		bin = "/usr/sbin/pgbouncer"
	}
	server, err := url.Parse(d.svcURL)
	if err != nil {
		t.Fatal(err)
	}
	host, port := server.Hostname(), server.Port()
	if port == "" {
		port = "5432"
	}
	db := strings.TrimPrefix(server.Path, "/")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	owneru, _ := url.Parse(d.ownerURL)
	// auth_type any: the client's user name is ignored and each database
	// logs in as the role it names, with the server's trust auth.
	ini := fmt.Sprintf(`[databases]
svc = host=%[1]s port=%[2]s dbname=%[3]s user=%[4]s
owner = host=%[1]s port=%[2]s dbname=%[3]s user=%[5]s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %[6]d
unix_socket_dir =
auth_type = any
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
`, host, port, db, server.User.Username(), owneru.User.Username(), addr.Port)
	dir := t.TempDir()
	path := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(path, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{path}
	if os.Geteuid() == 0 {
		// PgBouncer refuses to run as root.
		args = []string{"-u", "nobody", path}
	}
	cmd := exec.Command(bin, args...)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr.String())
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("pgbouncer exited: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbouncer does not listen on %s:\n%s", addr, logs.String())
		}
	}
	through := func(name string) string {
		return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", name, addr, name)
	}
	return through("svc"), through("owner")
}

// TestPgBouncer runs the conformance suite through PgBouncer 1.18+ in
// transaction pool mode, configured with nothing special, and checks that
// the store's settings hold in every transaction and every statement
// without leaking into the server connections PgBouncer shares.
func TestPgBouncer(t *testing.T) {
	d := database(t)
	svc, owner := pgBouncer(t, d)
	open := func(t testing.TB, mod func(*postgres.Config)) *postgres.Store {
		return d.open(t, d.newSchema(t), func(c *postgres.Config) {
			c.DSN, c.OwnerDSN, c.TransactionPooling = telamentis.NewSecret(svc), telamentis.NewSecret(owner), true
			if mod != nil {
				mod(c)
			}
		})
	}
	t.Run("storetest", func(t *testing.T) {
		storetest.Run(t, storetest.Harness{
			New:     func(t testing.TB) telamentis.Store { return open(t, nil) },
			Residue: residue,
		})
	})
	for _, mode := range []string{"", "exec", "simple_protocol"} {
		t.Run("settings/mode="+mode, func(t *testing.T) {
			s := open(t, func(c *postgres.Config) { c.StatementTimeout, c.QueryExecMode = 300*time.Millisecond, mode })
			checkSettings(t, s, true)
		})
	}
}

// TestSettings checks the store's settings on a direct connection.
func TestSettings(t *testing.T) {
	d := database(t)
	s := d.open(t, d.newSchema(t), func(c *postgres.Config) { c.StatementTimeout = 300 * time.Millisecond })
	checkSettings(t, s, false)
}

// checkSettings: statement_timeout, idle_in_transaction_session_timeout
// and jit are in force inside a store transaction and for a statement
// outside one, a statement running past the timeout is cancelled, and,
// behind a transaction pooler, none of it stays on a server connection.
func checkSettings(t *testing.T, s *postgres.Store, pooled bool) {
	t.Helper()
	ctx := t.Context()
	db := s.DBForTest()
	want := map[string]string{"statement_timeout": "300ms", "idle_in_transaction_session_timeout": "1min", "jit": "off"}
	for name, v := range want {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			var got string
			if err := tx.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&got); err != nil {
				return err
			}
			if got != v {
				t.Errorf("in a transaction %s = %s, want %s", name, got, v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := db.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("outside a transaction %s = %s, want %s", name, got, v)
		}
	}
	// A statement past the timeout is cancelled by the server: in a
	// transaction, alone, and read through Query.
	cancelled := func(what string, err error) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" {
			t.Errorf("%s: pg_sleep past statement_timeout: %v", what, err)
		}
	}
	cancelled("transaction", pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_sleep($1)`, 30)
		return err
	}))
	_, err := db.Exec(ctx, `SELECT pg_sleep($1)`, 30)
	cancelled("exec", err)
	rows, err := db.Query(ctx, `SELECT pg_sleep($1)`, 30)
	if err == nil {
		for rows.Next() {
		}
		rows.Close()
		err = rows.Err()
	}
	cancelled("query", err)
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM generate_series(1, $1::int)`, 3).Scan(&n); err != nil || n != 3 {
		t.Fatalf("query row: %d %v", n, err)
	}
	if !pooled {
		return
	}
	// Statements sent without the store's wrapper land on the server
	// connections PgBouncer shares: none of the settings may be left there.
	raw := s.PoolForTest()
	for range 20 {
		var st string
		if err := raw.QueryRow(ctx, `SELECT current_setting('statement_timeout')`).Scan(&st); err != nil {
			t.Fatal(err)
		}
		if st == want["statement_timeout"] {
			t.Fatalf("statement_timeout %s outlived its transaction on a shared server connection", st)
		}
	}
}
