-- Every change of an API key that can change what it authenticates is
-- announced on the channel "<schema>_keys" in the transaction that makes
-- it, with the key's ID as payload ('' after a TRUNCATE: every key). Each
-- replica listens (Store.WatchKeys) and drops its cached copy of the key
-- when the change commits, so a revocation takes effect on every replica
-- at once, also one made by hand in SQL. Touches of last_used_at are not
-- announced.
CREATE OR REPLACE FUNCTION {{schema}}.api_keys_notify() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify(TG_TABLE_SCHEMA || '_keys', '');
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM pg_notify(TG_TABLE_SCHEMA || '_keys', OLD.id);
	ELSE
		PERFORM pg_notify(TG_TABLE_SCHEMA || '_keys', NEW.id);
		IF TG_OP = 'UPDATE' AND OLD.id <> NEW.id THEN
			PERFORM pg_notify(TG_TABLE_SCHEMA || '_keys', OLD.id);
		END IF;
	END IF;
	RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS api_keys_notify ON {{schema}}.api_keys;
CREATE TRIGGER api_keys_notify
	AFTER INSERT OR DELETE OR UPDATE OF id, tenant, role, pii, hash, expires_at, revoked_at
	ON {{schema}}.api_keys FOR EACH ROW EXECUTE FUNCTION {{schema}}.api_keys_notify();
DROP TRIGGER IF EXISTS api_keys_notify_truncate ON {{schema}}.api_keys;
CREATE TRIGGER api_keys_notify_truncate
	AFTER TRUNCATE ON {{schema}}.api_keys FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.api_keys_notify();
