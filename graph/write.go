package graph

import (
	"context"
	"time"

	"github.com/telamentis/telamentis"
)

// UpsertNode implements telamentis.Store.UpsertNode over run: it validates
// in, then plans it in one write.
func UpsertNode(ctx context.Context, run Run, tenant string, in telamentis.NodeInput) (telamentis.NodeResult, error) {
	in, err := in.Normalize()
	if err != nil {
		return telamentis.NodeResult{}, err
	}
	var res telamentis.NodeResult
	err = run(ctx, tenant, func(tx Tx) (Plan, error) {
		p := newPlanner(tx)
		r, bad, err := p.upsertNode(in)
		if err != nil {
			return Plan{}, err
		}
		if bad != nil {
			return Plan{}, bad
		}
		res = r
		return p.finish()
	})
	if err != nil {
		return telamentis.NodeResult{}, err
	}
	return res, nil
}

// UpsertEdge implements telamentis.Store.UpsertEdge over run.
func UpsertEdge(ctx context.Context, run Run, tenant string, in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	in, err := in.Normalize()
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	var res telamentis.EdgeResult
	err = run(ctx, tenant, func(tx Tx) (Plan, error) {
		p := newPlanner(tx)
		r, bad, err := p.upsertEdge(in)
		if err != nil {
			return Plan{}, err
		}
		if bad != nil {
			return Plan{}, bad
		}
		res = r
		return p.finish()
	})
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	return res, nil
}

// CheckRef validates a reference to a node or edge given as the target of
// an operation (invalidate, retract, erase); errors name the field "ref".
func CheckRef(ref telamentis.Ref) error { return ref.Validate("ref") }

// InvalidateEdge implements telamentis.Store.InvalidateEdge over run.
func InvalidateEdge(ctx context.Context, run Run, tenant string, ref telamentis.Ref, at time.Time) (telamentis.EdgeResult, error) {
	if err := CheckRef(ref); err != nil {
		return telamentis.EdgeResult{}, err
	}
	if at.IsZero() {
		return telamentis.EdgeResult{}, telamentis.Invalid("at", "required")
	}
	at = telamentis.NormalizeTime(at)
	if err := telamentis.CheckTime("at", at); err != nil {
		return telamentis.EdgeResult{}, err
	}
	var res telamentis.EdgeResult
	err := run(ctx, tenant, func(tx Tx) (Plan, error) {
		p := newPlanner(tx)
		r, err := p.invalidate(ref, telamentis.Micros(at))
		if err != nil {
			return Plan{}, err
		}
		res = r
		return p.finish()
	})
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	return res, nil
}

// RetractNode implements telamentis.Store.RetractNode over run.
func RetractNode(ctx context.Context, run Run, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	return retract(ctx, run, tenant, ref, (*planner).retractNode)
}

// RetractEdge implements telamentis.Store.RetractEdge over run.
func RetractEdge(ctx context.Context, run Run, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	return retract(ctx, run, tenant, ref, (*planner).retractEdge)
}

func retract(ctx context.Context, run Run, tenant string, ref telamentis.Ref,
	plan func(*planner, telamentis.Ref) (telamentis.RetractResult, error)) (telamentis.RetractResult, error) {
	if err := CheckRef(ref); err != nil {
		return telamentis.RetractResult{}, err
	}
	var res telamentis.RetractResult
	err := run(ctx, tenant, func(tx Tx) (Plan, error) {
		p := newPlanner(tx)
		r, err := plan(p, ref)
		if err != nil {
			return Plan{}, err
		}
		res = r
		return p.finish()
	})
	if err != nil {
		return telamentis.RetractResult{}, err
	}
	return res, nil
}
