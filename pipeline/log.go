package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/telamentis/telamentis"
)

// Logger is the built-in operation-logging step: one slog line per
// operation with the request id, operation, tenant, key id (or token
// subject), outcome code and duration — never inputs, outputs or secrets.
// Successful operations log at Debug (the transport's access log already
// has a line per request), refusals at Info, failures (internal,
// unavailable) at Warn. Put it first in the chain to time everything.
type Logger struct {
	logger *slog.Logger
}

var _ telamentis.Step = (*Logger)(nil)

// NewLogger returns the logging step.
func NewLogger(logger *slog.Logger) *Logger {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Logger{logger: logger}
}

// ID implements telamentis.Step.
func (l *Logger) ID() string { return "telamentis.log" }

// Handle implements telamentis.Step.
func (l *Logger) Handle(ctx context.Context, op *telamentis.Operation, next telamentis.Handler) error {
	start := time.Now()
	err := next(ctx, op)
	level := slog.LevelDebug
	switch telamentis.ErrorCode(err) {
	case "":
	case telamentis.CodeInternal, telamentis.CodeUnavailable:
		level = slog.LevelWarn
	default:
		level = slog.LevelInfo
	}
	if !l.logger.Enabled(ctx, level) {
		return err
	}
	actor := ""
	if op.Principal != nil {
		actor = op.Principal.Actor()
	}
	l.logger.LogAttrs(ctx, level, "operation",
		slog.String("request_id", op.RequestID),
		slog.String("op", op.Name),
		slog.String("tenant", op.Tenant),
		slog.String("key_id", actor),
		slog.String("code", string(telamentis.ErrorCode(err))),
		slog.Duration("duration", time.Since(start)))
	return err
}
