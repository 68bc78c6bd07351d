-- What the service's role needs, and no more: connect, use the schema, read and write rows,
-- draw from sequences, and create the temporary tables a run stages its new roster in. It may
-- not create, alter or drop anything: `bromsync migrate` runs with the owner role instead. It
-- only reads `_sqlx_migrations` (to check that the schema is current): that table is
-- `migrate`'s, and a row deleted from it stops every command and the next `migrate`.
--
-- Run as a superuser or the owner role, with psql variables naming the database, the role the
-- service logs in as, and the owner role that runs `bromsync migrate`:
--   psql -v database=bromsync -v app_role=bromsync_app -v owner_role=bromsync_owner \
--        -d bromsync -f deploy/grants.sql
-- The role itself is created first, e.g. CREATE ROLE bromsync_app LOGIN PASSWORD '...';

GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"app_role";
GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
-- The blanket GRANT covers `_sqlx_migrations` once `migrate` has created it: take back all but
-- SELECT. (Before the first `migrate` the table does not exist yet; the default privileges
-- below then give the writes when `migrate` creates it, and a migration takes them back.)
SELECT set_config('bromsync.app_role', :'app_role', false);
DO $$
BEGIN
    IF to_regclass('public._sqlx_migrations') IS NOT NULL THEN
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON public._sqlx_migrations FROM %I',
                       current_setting('bromsync.app_role'));
    END IF;
END
$$;
-- Tables and sequences that later migrations create (by the owner role) are covered too.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT USAGE ON SEQUENCES TO :"app_role";
