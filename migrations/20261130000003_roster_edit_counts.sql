-- Writes to the roster by anyone but a sync run are counted, per table, so that a run can tell
-- with one small read whether a table may hold rows it did not leave there. This replaces the
-- fingerprint of row versions (the count and a hash-sum of the `xmin` of every row of the
-- school), which read every row of the school's tables to tell the same, and which, being
-- taken after the run's own writes, could take an edit committed while the run wrote for one
-- the run had seen.
--
-- A statement trigger on each table the runs own adds one to the table's count, unless the
-- statement is a sync run's (its transaction sets `bromsync.run`). An UPDATE of `teachers.room`
-- alone is not counted: the room is the operator's, and no run compares it (a column added to
-- `teachers` later joins the trigger's list; a test holds the list to the table). The count is a row
-- updated in the writer's transaction, so it shows only once the edit is committed; writers by
-- hand of one table therefore take turns on it (hand edits are rare and short).
--
-- The triggers fire for replicas and `session_replication_role = replica` too (ENABLE ALWAYS);
-- rows loaded with the triggers disabled are not counted: `DELETE FROM roster_fingerprints`
-- after such a load makes every school's next run compare every table in full.
CREATE TABLE roster_edits (
    table_name text   PRIMARY KEY,
    edits      bigint NOT NULL DEFAULT 0
);
INSERT INTO roster_edits (table_name) VALUES
    ('students'), ('teachers'), ('parents'), ('parent_students'), ('classes'),
    ('class_students'), ('class_teachers'), ('groups'), ('group_students'), ('exclusions');

-- SECURITY DEFINER: whoever may edit the roster need not be allowed to write this table.
CREATE FUNCTION bromsync_count_roster_edit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF current_setting('bromsync.run', true) IS DISTINCT FROM 'on' THEN
        UPDATE roster_edits SET edits = edits + 1 WHERE table_name = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['students', 'parents', 'parent_students', 'classes',
                             'class_students', 'class_teachers', 'groups', 'group_students',
                             'exclusions'] LOOP
        EXECUTE format('CREATE TRIGGER count_roster_edits '
                       'AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION bromsync_count_roster_edit()', t);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER count_roster_edits', t);
    END LOOP;
END
$$;
CREATE TRIGGER count_roster_edits
    AFTER INSERT OR DELETE OR TRUNCATE
       OR UPDATE OF school_id, staff_id, title, first_name, last_name, email, changed_in_run
    ON teachers FOR EACH STATEMENT EXECUTE FUNCTION bromsync_count_roster_edit();
ALTER TABLE teachers ENABLE ALWAYS TRIGGER count_roster_edits;

-- What a run records of each table it checked: the digest of the rows it left, their count, and
-- the table's edit count as the run found it before comparing. The fingerprints recorded the
-- old way mean nothing now: each school compares in full once.
DELETE FROM roster_fingerprints;
ALTER TABLE roster_fingerprints
    DROP COLUMN xmin_hash_sum,
    ADD COLUMN edits bigint NOT NULL;
