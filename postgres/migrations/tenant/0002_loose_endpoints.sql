-- loose_endpoints records that a tenant may hold an edge version whose
-- endpoint node is not visible for all of that version's transaction
-- time. Ordinary writes never create one (an edge is written between live
-- nodes; retracting a node closes its edges at the same time; erasing it
-- deletes them); only Import can, and it sets the flag when it cannot show
-- that its edges' endpoints cover them. Reads that would otherwise have to
-- check every reached node's visibility skip that check while it is
-- false. Tenants that existed before this migration may hold imported
-- data that was never checked: they start flagged; new tenants do not.
ALTER TABLE {{schema}}.tenant_state ADD COLUMN IF NOT EXISTS loose_endpoints boolean NOT NULL DEFAULT true;
ALTER TABLE {{schema}}.tenant_state ALTER COLUMN loose_endpoints SET DEFAULT false;
