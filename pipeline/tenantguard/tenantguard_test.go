package tenantguard_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/pipeline/tenantguard"
)

func TestGuard(t *testing.T) {
	store, err := badger.Open(badger.Config{InMemory: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	for _, tn := range []telamentis.Tenant{{ID: "acme"}, {ID: "other"}, {ID: "frozen", Status: telamentis.TenantSuspended}} {
		if _, err := store.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	g := tenantguard.New(store)
	reader := func(tenant string) *telamentis.Principal {
		return &telamentis.Principal{Tenant: tenant, Role: telamentis.RoleReader, KeyID: "k"}
	}
	admin := &telamentis.Principal{Role: telamentis.RoleAdmin, KeyID: "a"}
	for _, tc := range []struct {
		name string
		op   telamentis.Operation
		want telamentis.Code
		msg  string
	}{
		{"own tenant", telamentis.Operation{Name: "node.get", Tenant: "acme", Principal: reader("acme")}, "", ""},
		{"other tenant", telamentis.Operation{Name: "node.get", Tenant: "other", Principal: reader("acme")}, telamentis.CodeNotFound, "node not found"},
		{"missing tenant", telamentis.Operation{Name: "node.get", Tenant: "ghost", Principal: reader("ghost")}, telamentis.CodeNotFound, "node not found"},
		{"other tenant edge op", telamentis.Operation{Name: "edge.upsert", Tenant: "other", Principal: reader("acme")}, telamentis.CodeNotFound, "edge not found"},
		{"other tenant query", telamentis.Operation{Name: "graph.query", Tenant: "other", Principal: reader("acme")}, telamentis.CodeNotFound, "tenant not found"},
		{"suspended", telamentis.Operation{Name: "node.get", Tenant: "frozen", Principal: reader("frozen")}, telamentis.CodeForbidden, "tenant is suspended"},
		{"system op", telamentis.Operation{Name: "tenant.list", Principal: reader("acme")}, "", ""},
		{"admin on a tenant", telamentis.Operation{Name: "key.list", Tenant: "frozen", Principal: admin}, "", ""},
		{"no principal", telamentis.Operation{Name: "node.get", Tenant: "acme"}, telamentis.CodeUnauthenticated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran := false
			op := tc.op
			err := g.Handle(ctx, &op, func(context.Context, *telamentis.Operation) error { ran = true; return nil })
			if got := telamentis.ErrorCode(err); got != tc.want {
				t.Fatalf("code %q, want %q (%v)", got, tc.want, err)
			}
			if ran != (tc.want == "") {
				t.Fatalf("next ran = %v", ran)
			}
			if tc.msg != "" && telamentis.ErrorMessage(err) != tc.msg {
				t.Fatalf("message %q, want %q", telamentis.ErrorMessage(err), tc.msg)
			}
		})
	}
	// The principal may also come from the context.
	op := &telamentis.Operation{Name: "node.get", Tenant: "other"}
	err = g.Handle(telamentis.NewContextWithPrincipal(ctx, reader("acme")), op, func(context.Context, *telamentis.Operation) error { return nil })
	if telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Fatalf("principal from context: %v", err)
	}
}
