-- Tenant graph tables. Every table leads its primary key and every index
-- with tenant_id (no cross-tenant uniqueness oracle; ready for
-- create_distributed_table(..., 'tenant_id')). Row-level security is
-- enabled and forced, with USING and WITH CHECK on the per-transaction
-- setting telamentis.tenant. Times are microseconds since the Unix epoch;
-- 9223372036854775807 is the open end (no valid_to, no tx_end).

CREATE TABLE IF NOT EXISTS {{schema}}.tenant_state (
	tenant_id  text   NOT NULL CHECK (tenant_id <> ''),
	last_tx    bigint NOT NULL DEFAULT 0,
	nodes_live bigint NOT NULL DEFAULT 0,
	edges_live bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id)
);

CREATE TABLE IF NOT EXISTS {{schema}}.nodes (
	tenant_id text   NOT NULL CHECK (tenant_id <> ''),
	id        uuid   NOT NULL,
	tx_start  bigint NOT NULL,
	tx_end    bigint NOT NULL,
	alias     text,
	label     text   NOT NULL,
	props_c   text   NOT NULL,
	props     jsonb  GENERATED ALWAYS AS (props_c::jsonb) STORED,
	PRIMARY KEY (tenant_id, id, tx_start),
	CHECK (tx_end > tx_start)
);
CREATE UNIQUE INDEX IF NOT EXISTS nodes_alias_live ON {{schema}}.nodes (tenant_id, alias)
	WHERE alias IS NOT NULL AND tx_end = 9223372036854775807;
CREATE INDEX IF NOT EXISTS nodes_alias ON {{schema}}.nodes (tenant_id, alias, tx_start)
	WHERE alias IS NOT NULL;
CREATE INDEX IF NOT EXISTS nodes_label_live ON {{schema}}.nodes (tenant_id, label, id)
	WHERE tx_end = 9223372036854775807;
CREATE INDEX IF NOT EXISTS nodes_tx_start ON {{schema}}.nodes (tenant_id, tx_start);
CREATE INDEX IF NOT EXISTS nodes_tx_end ON {{schema}}.nodes (tenant_id, tx_end)
	WHERE tx_end < 9223372036854775807;

CREATE TABLE IF NOT EXISTS {{schema}}.edges (
	tenant_id  text   NOT NULL CHECK (tenant_id <> ''),
	id         uuid   NOT NULL,
	tx_start   bigint NOT NULL,
	tx_end     bigint NOT NULL,
	alias      text,
	from_id    uuid   NOT NULL,
	to_id      uuid   NOT NULL,
	kind       text   NOT NULL,
	valid_from bigint NOT NULL,
	valid_to   bigint NOT NULL,
	props_c    text   NOT NULL,
	PRIMARY KEY (tenant_id, id, tx_start),
	CHECK (tx_end > tx_start),
	CHECK (valid_to > valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS edges_alias_live ON {{schema}}.edges (tenant_id, alias)
	WHERE alias IS NOT NULL AND tx_end = 9223372036854775807;
CREATE INDEX IF NOT EXISTS edges_alias ON {{schema}}.edges (tenant_id, alias, tx_start)
	WHERE alias IS NOT NULL;
CREATE INDEX IF NOT EXISTS edges_out ON {{schema}}.edges (tenant_id, from_id, tx_end);
CREATE INDEX IF NOT EXISTS edges_in ON {{schema}}.edges (tenant_id, to_id, tx_end);
-- Current edges of a kind in ID order (the order of edges pages), with the
-- valid interval in the key so that interval filters are checked in the
-- index before any heap fetch.
CREATE INDEX IF NOT EXISTS edges_kind_live ON {{schema}}.edges (tenant_id, kind, id, valid_from, valid_to)
	WHERE tx_end = 9223372036854775807;
CREATE INDEX IF NOT EXISTS edges_tx_start ON {{schema}}.edges (tenant_id, tx_start);
CREATE INDEX IF NOT EXISTS edges_tx_end ON {{schema}}.edges (tenant_id, tx_end)
	WHERE tx_end < 9223372036854775807;

ALTER TABLE {{schema}}.tenant_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.tenant_state FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.nodes ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.nodes FORCE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.edges ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.edges FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON {{schema}}.tenant_state;
CREATE POLICY tenant_isolation ON {{schema}}.tenant_state
	USING (tenant_id = current_setting('telamentis.tenant', true))
	WITH CHECK (tenant_id = current_setting('telamentis.tenant', true));
DROP POLICY IF EXISTS tenant_isolation ON {{schema}}.nodes;
CREATE POLICY tenant_isolation ON {{schema}}.nodes
	USING (tenant_id = current_setting('telamentis.tenant', true))
	WITH CHECK (tenant_id = current_setting('telamentis.tenant', true));
DROP POLICY IF EXISTS tenant_isolation ON {{schema}}.edges;
CREATE POLICY tenant_isolation ON {{schema}}.edges
	USING (tenant_id = current_setting('telamentis.tenant', true))
	WITH CHECK (tenant_id = current_setting('telamentis.tenant', true));
