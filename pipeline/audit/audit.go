// Package audit is the pipeline step that writes operations to the audit
// trail (telamentis.AuditLog).
//
// Security-sensitive operations fail closed: their attempt is recorded
// durably before they run, and if that record cannot be written the
// operation is refused with CodeUnavailable and never runs. Their outcome
// is recorded after. Other writes are recorded after they run. Reads are
// not recorded here; authentication events come from the transport, which
// calls the AuditLog directly.
//
// An operation that ran cannot be undone, so an outcome record that cannot
// be written (the disk filled while the operation ran) does not change the
// answer; it is logged, and the audit package's Log keeps it and writes it
// after its outage record once it can write again. The chain then holds,
// for such an operation, its attempt, the outage record and the outcome
// marked late; an attempt with no outcome at all means the process stopped
// before the log could write again, and the operation may have applied.
package audit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/telamentis/telamentis"
)

// Config configures the step.
type Config struct {
	// Log receives the records. Required.
	Log telamentis.AuditLog
	// HashID turns an identifier of erased data into a keyed hash (the
	// audit package's Log.HashID). Required.
	HashID func(string) string
	// HashTarget reports whether op's Target identifies erased data and so
	// must be recorded only as HashID(Target). Default: operations whose
	// name ends in "erase" (such as "graph.erase").
	HashTarget func(op *telamentis.Operation) bool
	// SkipWrites turns off recording of non-sensitive writes (node and edge
	// upserts…); each recorded write shares an fsync with concurrent ones.
	SkipWrites bool
	// Timeout bounds one audit write; the write runs on a context detached
	// from the request's cancellation. Default 5 s.
	Timeout time.Duration
}

// Step is the audit pipeline step.
type Step struct {
	cfg    Config
	logger *slog.Logger
}

var _ telamentis.Step = (*Step)(nil)

// New returns the step.
func New(cfg Config, logger *slog.Logger) (*Step, error) {
	if cfg.Log == nil || cfg.HashID == nil {
		return nil, fmt.Errorf("pipeline/audit: new: Log and HashID are required")
	}
	if cfg.HashTarget == nil {
		cfg.HashTarget = func(op *telamentis.Operation) bool { return strings.HasSuffix(op.Name, "erase") }
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Step{cfg: cfg, logger: logger}, nil
}

// ID implements telamentis.Step.
func (s *Step) ID() string { return "telamentis.audit" }

// Handle implements telamentis.Step.
func (s *Step) Handle(ctx context.Context, op *telamentis.Operation, next telamentis.Handler) error {
	switch {
	case op.Sensitive:
		if err := s.write(ctx, op, telamentis.OutcomeAttempt, nil); err != nil {
			s.logger.Error("audit write refused operation", "op", op.Name, "request_id", op.RequestID, "tenant", op.Tenant, "err", err)
			return &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "audit log unavailable; operation refused", Err: fmt.Errorf("pipeline/audit: %s: %w", op.Name, err)}
		}
		err := next(ctx, op)
		s.after(ctx, op, err)
		return err
	case op.Write && !s.cfg.SkipWrites:
		err := next(ctx, op)
		s.after(ctx, op, err)
		return err
	default:
		err := next(ctx, op)
		if telamentis.ErrorCode(err) == telamentis.CodeQuota {
			s.after(ctx, op, err)
		}
		return err
	}
}

// after records the outcome of an operation that ran. It cannot undo the
// operation, so a failure is logged, not returned (the log keeps the
// record for after its outage; see the package doc).
func (s *Step) after(ctx context.Context, op *telamentis.Operation, err error) {
	outcome := telamentis.OutcomeSuccess
	if err != nil {
		outcome = telamentis.OutcomeFailure
	}
	if werr := s.write(ctx, op, outcome, err); werr != nil {
		s.logger.Error("audit outcome write", "op", op.Name, "request_id", op.RequestID, "tenant", op.Tenant, "err", werr)
	}
}

func (s *Step) write(ctx context.Context, op *telamentis.Operation, outcome string, opErr error) error {
	rec := telamentis.AuditRecord{
		RequestID: op.RequestID,
		Actor:     "anonymous",
		Tenant:    op.Tenant,
		Action:    op.Name,
		Target:    op.Target,
		Outcome:   outcome,
		ClientIP:  op.ClientIP,
	}
	if op.Principal != nil {
		rec.Actor = op.Principal.Actor()
	}
	if rec.Target != "" && s.cfg.HashTarget(op) {
		rec.Target = s.cfg.HashID(rec.Target)
	}
	if opErr != nil {
		code := telamentis.ErrorCode(opErr)
		rec.Details = map[string]string{"code": string(code)}
		if code == telamentis.CodeQuota {
			// A quota trip is its own event; the refused operation is a detail.
			rec.Action = telamentis.AuditQuotaTrip
			rec.Outcome = telamentis.OutcomeDenied
			rec.Details["op"] = op.Name
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	return s.cfg.Log.Append(ctx, rec)
}
