//! The PostgreSQL schema: an append-only migration list applied in place by
//! `directus_schema.version`, under an advisory lock so that servers starting together on
//! several hosts migrate once.
//!
//! Layout (for operators with `psql` during maintenance):
//!
//! ```sql
//! directus_collections(collection text PRIMARY KEY, created_at text, ids text)  -- ids: its sequence
//! directus_items(collection text, id bigint, data text, doc jsonb GENERATED ALWAYS AS (data::jsonb),
//!                PRIMARY KEY (collection, id))
//! directus_fields(collection, field, indexed, decided)
//! directus_strings(collection, id, field, value)  -- kept by a trigger, trigram-indexed
//! directus_cluster(mode, notice, announcement, changed_at)  -- cluster maintenance, one row
//! ```
//!
//! `data` is the item's JSON text exactly as written (key order and number spelling kept, as
//! SQLite keeps them); `doc` is PostgreSQL's parse of it, which conditions and indexes read.

use crate::pg::{Client, PgError};

/// The advisory lock key migrations run under (any constant; ASCII "dirmigr1").
const MIGRATION_LOCK: i64 = 0x6469_726d_6967_7231;

/// The advisory lock every API write holds shared, and a cluster drain takes exclusively
/// (ASCII "dirdrain").
pub const DRAIN_LOCK: i64 = 0x6469_7264_7261_696e;

/// The channel cluster maintenance changes are announced on.
pub const CHANNEL: &str = "directus_maintenance";

/// Migrations, applied in order. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: the first PostgreSQL release.
    r#"
    CREATE EXTENSION IF NOT EXISTS pg_trgm;

    CREATE FUNCTION directus_class(v jsonb) RETURNS smallint
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT (CASE jsonb_typeof(v) WHEN 'number' THEN 1 WHEN 'boolean' THEN 1
                WHEN 'string' THEN 2 WHEN 'object' THEN 2 WHEN 'array' THEN 2 ELSE 0 END)::smallint
    $$;
    CREATE FUNCTION directus_number(v jsonb) RETURNS numeric
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE jsonb_typeof(v) WHEN 'number' THEN v::numeric
               WHEN 'boolean' THEN CASE WHEN v::boolean THEN 1 ELSE 0 END END
    $$;
    CREATE FUNCTION directus_string(v jsonb) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}'
               WHEN 'object' THEN v::text WHEN 'array' THEN v::text END
    $$;
    -- The first characters of a string, for indexes: a B-tree entry must fit in a third of a
    -- page, so long strings are indexed by their head and compared whole on the rows found.
    -- Index expressions are also evaluated by autovacuum, ANALYZE and REINDEX with an empty
    -- search_path: these functions name nothing outside pg_catalog (no call of one another).
    CREATE FUNCTION directus_head(v jsonb) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT left(CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}'
               WHEN 'object' THEN v::text WHEN 'array' THEN v::text END, 400)
    $$;

    CREATE TABLE directus_collections (
        collection text PRIMARY KEY,
        created_at text NOT NULL,
        ids text NOT NULL
    );
    CREATE TABLE directus_items (
        collection text NOT NULL REFERENCES directus_collections ON DELETE CASCADE,
        id bigint NOT NULL,
        data text NOT NULL,
        -- jsonb cannot hold U+0000: such a character is read as U+FFFD here (only for
        -- conditions and indexes; `data`, what clients get back, keeps it).
        doc jsonb GENERATED ALWAYS AS (replace(data, E'\\u0000', E'\\ufffd')::jsonb) STORED,
        PRIMARY KEY (collection, id),
        CHECK (jsonb_typeof(doc) = 'object')
    );
    CREATE TABLE directus_fields (
        collection text NOT NULL REFERENCES directus_collections ON DELETE CASCADE,
        field text NOT NULL,
        indexed boolean NOT NULL,
        decided boolean NOT NULL,
        PRIMARY KEY (collection, field)
    );
    CREATE TABLE directus_strings (
        collection text NOT NULL,
        id bigint NOT NULL,
        field text NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (collection, id, field)
    );
    CREATE INDEX directus_strings_trigrams ON directus_strings USING gin (value gin_trgm_ops);

    -- The strings of an item follow it, whoever writes (the server or psql); an update
    -- rewrites only the strings that changed.
    CREATE FUNCTION directus_strings_follow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM directus_strings WHERE collection = OLD.collection AND id = OLD.id;
            RETURN NULL;
        END IF;
        IF TG_OP = 'UPDATE' THEN
            IF OLD.collection = NEW.collection AND OLD.id = NEW.id AND OLD.doc = NEW.doc THEN
                RETURN NULL;
            END IF;
            DELETE FROM directus_strings AS s WHERE s.collection = OLD.collection AND s.id = OLD.id
                AND NOT (OLD.collection = NEW.collection AND OLD.id = NEW.id
                         AND (NEW.doc -> s.field) IS NOT DISTINCT FROM to_jsonb(s.value));
        END IF;
        INSERT INTO directus_strings (collection, id, field, value)
            SELECT NEW.collection, NEW.id, e.key, e.value #>> '{}'
            FROM jsonb_each(NEW.doc) AS e WHERE jsonb_typeof(e.value) = 'string'
            ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$;
    CREATE TRIGGER directus_strings_follow AFTER INSERT OR UPDATE OR DELETE ON directus_items
        FOR EACH ROW EXECUTE FUNCTION directus_strings_follow();

    CREATE TABLE directus_cluster (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        mode text NOT NULL DEFAULT 'off' CHECK (mode IN ('off', 'full', 'read-only')),
        notice text,
        announcement text,
        -- Moved by every change; each server records the one it applies (`applied` below).
        version bigint NOT NULL DEFAULT 0,
        changed_at timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO directus_cluster DEFAULT VALUES;

    CREATE TABLE directus_servers (
        host text NOT NULL,
        pid integer NOT NULL,
        address text NOT NULL,
        root text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        heartbeat timestamptz NOT NULL DEFAULT now(),
        applied bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (host, pid)
    );
"#,
];

/// Brings the schema up to date, in one transaction under the migration lock.
pub fn migrate(client: &mut Client) -> Result<(), PgError> {
    client.batch("BEGIN")?;
    let migrated = run_migrations(client);
    match migrated {
        Ok(()) => client.batch("COMMIT"),
        Err(e) => {
            let _ = client.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn run_migrations(client: &mut Client) -> Result<(), PgError> {
    client.query(
        "SELECT pg_advisory_xact_lock($1::bigint)",
        &[Some(&MIGRATION_LOCK.to_string())],
    )?;
    client.batch("CREATE TABLE IF NOT EXISTS directus_schema (version integer NOT NULL)")?;
    let version = match client.query_opt("SELECT version FROM directus_schema", &[])? {
        Some(row) => row.int(0)? as usize,
        None => {
            client.batch("INSERT INTO directus_schema VALUES (0)")?;
            0
        }
    };
    if version > MIGRATIONS.len() {
        return Err(PgError::Protocol(format!(
            "the database's schema is version {version}, newer than this release knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        client.batch(sql)?;
        client.execute(
            "UPDATE directus_schema SET version = $1::integer",
            &[Some(&(i + 1).to_string())],
        )?;
    }
    Ok(())
}

/// A name for a per-collection object (its id sequence, its fields' indexes) that no request
/// text reaches: `prefix` and a digest of the parts. PostgreSQL cuts identifiers at 63 bytes,
/// so names are not spelled out.
pub fn object_name(prefix: &str, parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let hex: String = h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}_{hex}")
}
