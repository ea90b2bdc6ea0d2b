-- Entity resolution and merges (issue 19 §6).
--
-- alias_key and name_key are the normalised alias and name of a node
-- version (graph.AliasNameKeys: NFKC, case folding, diacritics and
-- punctuation removed), computed by the store in Go, never in SQL, so that
-- every store agrees. They are kept for live versions only once a tenant
-- has looked a name up: tenant_state.name_keys records the name property
-- and rules they were computed with ('name@1'); NULL means "not kept", and
-- the first lookup computes them for every live version. The indexes are
-- partial on live versions, under the table's row-level security.
ALTER TABLE {{schema}}.nodes ADD COLUMN IF NOT EXISTS alias_key text;
ALTER TABLE {{schema}}.nodes ADD COLUMN IF NOT EXISTS name_key text;
CREATE INDEX IF NOT EXISTS nodes_alias_key_live ON {{schema}}.nodes (tenant_id, alias_key)
	WHERE alias_key IS NOT NULL AND tx_end = 9223372036854775807;
CREATE INDEX IF NOT EXISTS nodes_name_key_live ON {{schema}}.nodes (tenant_id, name_key)
	WHERE name_key IS NOT NULL AND tx_end = 9223372036854775807;
ALTER TABLE {{schema}}.tenant_state ADD COLUMN IF NOT EXISTS name_keys text;

-- node_redirects holds versions of alias redirects (graph.Redirect): while
-- one is live (tx_end open) and its node is live, alias names node_id
-- wherever no live node has the alias as its own. Merges create them for
-- the merged node's aliases (source_id: that node), resolution for the
-- alias of an upsert it attached to a node with another alias (source_id
-- NULL). Erasing node_id or source_id deletes the rows.
CREATE TABLE IF NOT EXISTS {{schema}}.node_redirects (
	tenant_id text   NOT NULL CHECK (tenant_id <> ''),
	id        uuid   NOT NULL,
	tx_start  bigint NOT NULL,
	tx_end    bigint NOT NULL,
	alias     text   NOT NULL,
	alias_key text,
	node_id   uuid   NOT NULL,
	source_id uuid,
	PRIMARY KEY (tenant_id, id),
	CHECK (tx_end > tx_start)
);
CREATE INDEX IF NOT EXISTS node_redirects_alias ON {{schema}}.node_redirects (tenant_id, alias, tx_start);
CREATE INDEX IF NOT EXISTS node_redirects_node ON {{schema}}.node_redirects (tenant_id, node_id);
CREATE INDEX IF NOT EXISTS node_redirects_source ON {{schema}}.node_redirects (tenant_id, source_id)
	WHERE source_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS node_redirects_key_live ON {{schema}}.node_redirects (tenant_id, alias_key)
	WHERE tx_end = 9223372036854775807;
ALTER TABLE {{schema}}.node_redirects ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{schema}}.node_redirects FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON {{schema}}.node_redirects;
CREATE POLICY tenant_isolation ON {{schema}}.node_redirects
	USING (tenant_id = current_setting('telamentis.tenant', true))
	WITH CHECK (tenant_id = current_setting('telamentis.tenant', true));
