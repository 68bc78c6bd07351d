-- "Since when?": one event per record whose standing or roster data changed in a run, written
-- in the run's transaction. IDs, column names and reason codes only: never a value, so a
-- person whose consent was withdrawn leaves nothing here but their Bromcom ID.
--   added:   the record entered the roster (columns and reasons empty)
--   changed: its roster data changed; `columns` names what (a class's `students`, ... for
--            its links and memberships)
--   removed: it left the roster; `reasons` are the exclusion reasons it now has (empty when
--            it vanished from Bromcom)
-- Kept for `sync.history_retention_days`; older events are pruned by the runs that follow.
CREATE TABLE record_history (
    school_id  bigint      NOT NULL,
    entity     text        NOT NULL CHECK (entity IN ('student', 'teacher', 'parent', 'class', 'group')),
    bromcom_id bigint      NOT NULL,
    run_id     bigint      NOT NULL,
    event      text        NOT NULL CHECK (event IN ('added', 'changed', 'removed')),
    columns    text[]      NOT NULL DEFAULT '{}',
    reasons    text[]      NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL,
    PRIMARY KEY (school_id, entity, bromcom_id, run_id)
);
-- Pruning walks a school's oldest events.
CREATE INDEX record_history_school_at ON record_history (school_id, at);
