package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/telamentis/telamentis"
)

// Query execution modes of Config.QueryExecMode, as pgx names them.
var execModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement,
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec,
	"exec":            pgx.QueryExecModeExec,
	"simple_protocol": pgx.QueryExecModeSimpleProtocol,
}

// CheckQueryExecMode returns a CodeInvalid error unless mode is a
// Config.QueryExecMode ("" included).
func CheckQueryExecMode(mode string) error {
	if _, ok := execModes[mode]; !ok && mode != "" {
		return telamentis.Invalid("query_exec_mode", "must be one of cache_statement, cache_describe, describe_exec, exec, simple_protocol")
	}
	return nil
}

// setExecMode applies Config.QueryExecMode to pcfg (see there).
func setExecMode(pcfg *pgxpool.Config, mode string, pooled bool) error {
	if err := CheckQueryExecMode(mode); err != nil {
		return err
	}
	switch {
	case mode != "":
		pcfg.ConnConfig.DefaultQueryExecMode = execModes[mode]
	case pooled && pcfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement:
		// pgx's default: the DSN named no mode.
		pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	return nil
}

// settings are the server settings every statement of the service runs
// under, as name, value pairs.
type settings [][2]string

func serviceSettings(timeout time.Duration, dsnJIT bool) settings {
	s := settings{
		{"statement_timeout", fmt.Sprint(timeout.Milliseconds())},
		// A transaction left open (a stuck client) must not hold a
		// tenant's write lock for long.
		{"idle_in_transaction_session_timeout", fmt.Sprint(max(timeout, time.Minute).Milliseconds())},
	}
	if !dsnJIT {
		// Short OLTP statements: JIT compilation costs more than it
		// saves (tens of ms on the first execution of a costly plan).
		s = append(s, [2]string{"jit", "off"})
	}
	return s
}

// set returns the statements setting s, with SET LOCAL when local.
func (s settings) set(local bool) string {
	var b strings.Builder
	for _, kv := range s {
		b.WriteString("SET ")
		if local {
			b.WriteString("LOCAL ")
		}
		b.WriteString(kv[0] + " = '" + kv[1] + "'; ")
	}
	return b.String()
}

// setConfig returns one statement setting s for the current transaction.
func (s settings) setConfig() string {
	parts := make([]string, len(s))
	for i, kv := range s {
		parts[i] = "set_config('" + kv[0] + "', '" + kv[1] + "', true)"
	}
	return "SELECT " + strings.Join(parts, ", ")
}

// servicePool is the service role's pool. Its settings never travel as
// startup parameters, which PgBouncer refuses ("unsupported startup
// parameter"), and never outlive a transaction where a transaction
// pooler hands the server connection to someone else:
//
//   - every transaction it begins sets them with SET LOCAL, in the same
//     round trip as its BEGIN;
//   - a statement outside a transaction runs in a transaction of its own:
//     behind a transaction pooler (perStatement) it is sent with a
//     set_config(…, true) of the settings before it, in the same round
//     trip and implicit transaction; on a direct connection the settings
//     were set once for the session when it connected, which costs the
//     statement nothing.
//
// Store code uses it as it would a *pgxpool.Pool.
type servicePool struct {
	*pgxpool.Pool
	begin  string // BEGIN and the SET LOCALs
	prefix string // the set_config statement; "" on direct connections
}

// newServicePool configures pcfg for the settings and opens the pool.
func newServicePool(ctx context.Context, pcfg *pgxpool.Config, s settings, perStatement bool) (*servicePool, error) {
	p := &servicePool{begin: "BEGIN; " + s.set(true)}
	if perStatement {
		p.prefix = s.setConfig()
	} else {
		session := s.set(false)
		pcfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, session)
			return err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	p.Pool = pool
	return p, nil
}

// Begin starts a transaction under the settings.
func (p *servicePool) Begin(ctx context.Context) (pgx.Tx, error) {
	return p.Pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: p.begin})
}

// Query runs one statement under the settings.
func (p *servicePool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.prefix == "" {
		return p.Pool.Query(ctx, sql, args...)
	}
	br := p.send(ctx, sql, args)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow runs one statement under the settings.
func (p *servicePool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if p.prefix == "" {
		return p.Pool.QueryRow(ctx, sql, args...)
	}
	rows, err := p.Query(ctx, sql, args...)
	return &batchRow{rows: rows, err: err}
}

// Exec runs one statement under the settings.
func (p *servicePool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.prefix == "" {
		return p.Pool.Exec(ctx, sql, args...)
	}
	br := p.send(ctx, sql, args)
	_, err := br.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	return tag, errors.Join(err, br.Close())
}

// send sends the settings and the statement in one round trip; until the
// Sync that ends it they form one implicit transaction, so the settings
// hold for the statement and end with it.
func (p *servicePool) send(ctx context.Context, sql string, args []any) pgx.BatchResults {
	b := &pgx.Batch{}
	b.Queue(p.prefix)
	b.Queue(sql, args...)
	return p.Pool.SendBatch(ctx, b)
}

// batchRows are the rows of a statement sent after the settings; closing
// them releases the batch and its connection.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

func (r *batchRows) Close() {
	if r.br == nil {
		return
	}
	r.Rows.Close()
	r.err = r.br.Close()
	r.br = nil
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

// batchRow is QueryRow's answer over batchRows, with pgx's semantics:
// ErrNoRows when there is none, the rest ignored.
type batchRow struct {
	rows pgx.Rows
	err  error
}

func (r *batchRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
