// Package pipeline runs the request pipeline: an ordered chain of
// compiled-in telamentis.Step plugins around each API operation.
//
// The order of the steps is code in cmd. Each step runs its pre stage,
// calls next, and runs its post stage; a step that returns an error without
// calling next refuses the operation. A panic in a step or in the operation
// itself becomes a CodeInternal error for that operation only: the chain
// recovers it, logs the stack, and the transport answers 500.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/telamentis/telamentis"
)

// Chain runs operations through a fixed list of steps. It is immutable
// after New and safe for concurrent use.
type Chain struct {
	steps  []telamentis.Step
	logger *slog.Logger
}

// New returns a chain of steps, run in the given order (the first step's
// pre stage runs first and its post stage last). A nil step or two steps
// with the same ID are programmer errors and return an error.
func New(logger *slog.Logger, steps ...telamentis.Step) (*Chain, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seen := make(map[string]bool, len(steps))
	for i, s := range steps {
		if s == nil {
			return nil, fmt.Errorf("pipeline: new: step %d is nil", i)
		}
		if seen[s.ID()] {
			return nil, fmt.Errorf("pipeline: new: duplicate step %q", s.ID())
		}
		seen[s.ID()] = true
	}
	return &Chain{steps: append([]telamentis.Step(nil), steps...), logger: logger}, nil
}

// Steps returns the IDs of the chain's steps in order.
func (c *Chain) Steps() []string {
	ids := make([]string, len(c.steps))
	for i, s := range c.steps {
		ids[i] = s.ID()
	}
	return ids
}

// Run runs op through every step and then h, and returns the outcome. The
// outcome is also stored in op.Err before the post stages of the steps run
// (each post stage sees the outcome of everything inside it). A panic
// anywhere inside becomes a CodeInternal error; the stack goes to the log
// under op's request id.
func (c *Chain) Run(ctx context.Context, op *telamentis.Operation, h telamentis.Handler) error {
	return c.run(ctx, op, 0, h)
}

func (c *Chain) run(ctx context.Context, op *telamentis.Operation, i int, h telamentis.Handler) (err error) {
	if i == len(c.steps) {
		defer c.recover(op, "operation", &err)
		err = h(ctx, op)
		op.Err = err
		return err
	}
	s := c.steps[i]
	defer c.recover(op, s.ID(), &err)
	err = s.Handle(ctx, op, func(ctx context.Context, op *telamentis.Operation) error {
		return c.run(ctx, op, i+1, h)
	})
	op.Err = err
	return err
}

// recover turns a panic into an internal error for this operation.
func (c *Chain) recover(op *telamentis.Operation, where string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	c.logger.Error("panic in pipeline",
		slog.String("plugin", where),
		slog.String("op", op.Name),
		slog.String("request_id", op.RequestID),
		slog.String("tenant", op.Tenant),
		slog.Any("err", r),
		slog.String("stack", string(debug.Stack())))
	*err = &telamentis.Error{Code: telamentis.CodeInternal, Message: "internal error",
		Err: fmt.Errorf("pipeline: panic in %s: %v", where, r)}
	op.Err = *err
}
