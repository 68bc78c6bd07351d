-- The edit-counting trigger function runs as its owner (SECURITY DEFINER), so that whoever may
-- edit the roster need not be allowed to write `roster_edits`. It took its search_path from the
-- migration (`"$user", public`), which leaves `pg_temp` searched first for tables: a role with
-- TEMPORARY could create its own `roster_edits` with a trigger of its own, edit any roster row,
-- and have its code run as the owner. Rewritten as the Postgres documentation says such a
-- function must be: a fixed search_path with `pg_temp` named last, and every name qualified
-- with the schema (written in here, as the schema need not be `public`).
DO $migration$
BEGIN
    EXECUTE format($create$
        CREATE OR REPLACE FUNCTION %1$I.bromsync_count_roster_edit() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, %1$I, pg_temp AS $body$
        BEGIN
            IF pg_catalog.current_setting('bromsync.run', true) IS DISTINCT FROM 'on' THEN
                UPDATE %1$I.roster_edits SET edits = edits + 1 WHERE table_name = TG_TABLE_NAME;
            END IF;
            RETURN NULL;
        END
        $body$
    $create$, current_schema());
    -- A trigger function cannot be called directly, and firing it checks no privilege; nobody
    -- else need hold EXECUTE on a function that runs as the owner.
    EXECUTE format('REVOKE ALL ON FUNCTION %I.bromsync_count_roster_edit() FROM PUBLIC',
                   current_schema());
END
$migration$;
