package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/pipeline"
)

// recordStep appends "pre:<id>" and "post:<id>=<code>" to a shared log.
type recordStep struct {
	id     string
	log    *[]string
	refuse error
	panics bool
}

func (s recordStep) ID() string { return s.id }

func (s recordStep) Handle(ctx context.Context, op *telamentis.Operation, next telamentis.Handler) error {
	*s.log = append(*s.log, "pre:"+s.id)
	if s.panics {
		panic("boom in " + s.id)
	}
	if s.refuse != nil {
		return s.refuse
	}
	err := next(ctx, op)
	*s.log = append(*s.log, "post:"+s.id+"="+string(telamentis.ErrorCode(op.Err)))
	return err
}

func TestChainOrderAndOutcome(t *testing.T) {
	var log []string
	c, err := pipeline.New(nil, recordStep{id: "a", log: &log}, recordStep{id: "b", log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Steps(), ","); got != "a,b" {
		t.Fatalf("Steps = %s", got)
	}
	op := &telamentis.Operation{Name: "node.get"}
	want := telamentis.NotFound("node")
	got := c.Run(t.Context(), op, func(ctx context.Context, op *telamentis.Operation) error {
		log = append(log, "op")
		return want
	})
	if !errors.Is(got, want) || op.Err != want {
		t.Fatalf("Run = %v, op.Err = %v", got, op.Err)
	}
	if s := strings.Join(log, " "); s != "pre:a pre:b op post:b=not_found post:a=not_found" {
		t.Fatalf("order = %s", s)
	}
}

func TestChainRefusal(t *testing.T) {
	var log []string
	refuse := telamentis.Errorf(telamentis.CodeForbidden, "no")
	c, _ := pipeline.New(nil, recordStep{id: "a", log: &log}, recordStep{id: "b", log: &log, refuse: refuse})
	ran := false
	err := c.Run(t.Context(), &telamentis.Operation{}, func(context.Context, *telamentis.Operation) error {
		ran = true
		return nil
	})
	if ran || telamentis.ErrorCode(err) != telamentis.CodeForbidden {
		t.Fatalf("ran=%v err=%v", ran, err)
	}
	if s := strings.Join(log, " "); s != "pre:a pre:b post:a=forbidden" {
		t.Fatalf("order = %s", s)
	}
}

func TestChainPanics(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stepPan  bool
		opPanics bool
	}{
		{"step", true, false},
		{"operation", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, nil))
			var log []string
			c, _ := pipeline.New(logger, recordStep{id: "outer", log: &log}, recordStep{id: "inner", log: &log, panics: tc.stepPan})
			op := &telamentis.Operation{Name: "node.get", RequestID: "req-1"}
			err := c.Run(t.Context(), op, func(context.Context, *telamentis.Operation) error {
				if tc.opPanics {
					panic("boom in op")
				}
				return nil
			})
			if telamentis.ErrorCode(err) != telamentis.CodeInternal {
				t.Fatalf("err = %v", err)
			}
			if telamentis.ErrorMessage(err) != "internal error" {
				t.Fatalf("client message leaks: %q", telamentis.ErrorMessage(err))
			}
			// The outer step's post stage still ran and saw the failure.
			if last := log[len(log)-1]; last != "post:outer=internal" {
				t.Fatalf("log = %v", log)
			}
			if !strings.Contains(buf.String(), `"request_id":"req-1"`) || !strings.Contains(buf.String(), "boom in") {
				t.Fatalf("panic not logged with request id: %s", buf.String())
			}
			// The chain keeps working for the next operation.
			if err := c.Run(t.Context(), &telamentis.Operation{}, func(context.Context, *telamentis.Operation) error { return nil }); err != nil && !tc.stepPan {
				t.Fatalf("next run: %v", err)
			}
		})
	}
}

func TestNewRejectsBadSteps(t *testing.T) {
	var log []string
	if _, err := pipeline.New(nil, recordStep{id: "a", log: &log}, recordStep{id: "a", log: &log}); err == nil {
		t.Fatal("duplicate step accepted")
	}
	if _, err := pipeline.New(nil, nil); err == nil {
		t.Fatal("nil step accepted")
	}
}

func TestLoggerStep(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, _ := pipeline.New(nil, pipeline.NewLogger(logger))
	p := &telamentis.Principal{Tenant: "acme", Role: telamentis.RoleWriter, KeyID: "k1"}
	ok := &telamentis.Operation{Name: "node.get", Tenant: "acme", Principal: p, RequestID: "r-ok"}
	c.Run(t.Context(), ok, func(context.Context, *telamentis.Operation) error { return nil })
	bad := &telamentis.Operation{Name: "node.upsert", Tenant: "acme", Principal: p, RequestID: "r-bad", Target: "s3cr3t-target"}
	c.Run(t.Context(), bad, func(context.Context, *telamentis.Operation) error {
		return &telamentis.Error{Code: telamentis.CodeInternal, Message: "internal error", Err: errors.New("disk on fire")}
	})
	out := buf.String()
	if strings.Contains(out, "r-ok") {
		t.Errorf("success logged at info: %s", out)
	}
	for _, want := range []string{`"request_id":"r-bad"`, `"op":"node.upsert"`, `"tenant":"acme"`, `"key_id":"key:k1"`, `"code":"internal"`, `"level":"WARN"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") || strings.Contains(out, "disk on fire") {
		t.Errorf("log holds inputs or causes: %s", out)
	}
}
