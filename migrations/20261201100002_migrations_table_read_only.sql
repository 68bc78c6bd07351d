-- `_sqlx_migrations` is `migrate`'s, which runs as the owner: the service's role only reads it,
-- to check that the schema is current. Written by the service's role (as the default
-- privileges of `deploy/grants.sql` allowed when the grants came before the first `migrate`),
-- a deleted row made every command refuse the schema and the owner's next `migrate` fail. So
-- every role but the owner keeps at most SELECT on it. (`deploy/grants.sql` revokes the same
-- when it runs after this.)
DO $migration$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END
          FROM pg_catalog.pg_class c
         CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
          LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
         WHERE c.oid = pg_catalog.format('%I._sqlx_migrations', current_schema())::regclass
           AND a.grantee <> c.relowner
           AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
    LOOP
        EXECUTE pg_catalog.format(
            'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %I._sqlx_migrations FROM %s',
            current_schema(), grantee);
    END LOOP;
END
$migration$;
