-- System tables: tenants, API keys and the migration ledger. They hold no
-- graph data and are not tenant-scoped through RLS: the service lists
-- tenants and looks keys up before any tenant is known. Tenant graph data
-- lives only in the RLS-forced tables of migrations/tenant.
CREATE TABLE IF NOT EXISTS {{schema}}.tenants (
	id          text        NOT NULL CHECK (id <> ''),
	isolation   text        NOT NULL CHECK (isolation IN ('shared', 'dedicated')),
	schema_name text        NOT NULL,
	max_nodes   bigint      NOT NULL DEFAULT 0,
	max_edges   bigint      NOT NULL DEFAULT 0,
	doc         jsonb       NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS {{schema}}.api_keys (
	id           text        NOT NULL CHECK (id <> ''),
	tenant       text        NOT NULL DEFAULT '',
	role         text        NOT NULL,
	pii          boolean     NOT NULL DEFAULT false,
	name         text        NOT NULL DEFAULT '',
	hash         bytea       NOT NULL,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz,
	revoked_at   timestamptz,
	last_used_at timestamptz,
	PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON {{schema}}.api_keys (tenant, id);
