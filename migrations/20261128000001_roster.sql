-- The roster tables that the parents'-evening system reads (shared/schema.md), keyed by the
-- school and the Bromcom ID. `changed_in_run` names the sync run that last inserted or changed
-- the row: every change to a record is tracked by its Bromcom ID and the run that made it.

CREATE TABLE sync_runs (
    run_id            bigserial PRIMARY KEY,
    school_id         bigint      NOT NULL,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL,
    trigger           text        NOT NULL CHECK (trigger IN ('schedule', 'signal', 'manual')),
    status            text        NOT NULL CHECK (status IN ('succeeded', 'failed', 'refused')),
    -- {"students": 3, "teachers": 0, ...}: rows per roster table
    added             jsonb       NOT NULL DEFAULT '{}',
    changed           jsonb       NOT NULL DEFAULT '{}',
    removed           jsonb       NOT NULL DEFAULT '{}',
    -- {"student": 12, "teacher": 1, ...}: records left out, per entity
    excluded          jsonb       NOT NULL DEFAULT '{}',
    -- {"StudentContacts": {"no_parental_responsibility": 40}, ...}: links and memberships dropped
    dropped           jsonb       NOT NULL DEFAULT '{}',
    -- the removals that would have been refused but were accepted with --accept-removals
    accepted_removals boolean     NOT NULL DEFAULT false,
    -- the scheduled trigger this run carried out, so that several daemons run each one once
    scheduled_for     timestamptz,
    error             text
);
CREATE INDEX sync_runs_school_started ON sync_runs (school_id, started_at DESC);
CREATE UNIQUE INDEX sync_runs_one_per_scheduled_trigger
    ON sync_runs (school_id, scheduled_for) WHERE scheduled_for IS NOT NULL AND status <> 'failed';

CREATE TABLE students (
    school_id      bigint NOT NULL,
    student_id     bigint NOT NULL,
    first_name     text   NOT NULL,
    last_name      text   NOT NULL,
    date_of_birth  date,
    tutor_group    text,
    year_group     text,
    changed_in_run bigint NOT NULL,
    PRIMARY KEY (school_id, student_id)
);

CREATE TABLE teachers (
    school_id      bigint NOT NULL,
    staff_id       bigint NOT NULL,
    title          text   NOT NULL,
    first_name     text   NOT NULL,
    last_name      text   NOT NULL,
    email          text,
    -- set by operators by hand; the sync never writes it
    room           text,
    changed_in_run bigint NOT NULL,
    PRIMARY KEY (school_id, staff_id)
);

-- Rooms of teachers who left the roster, kept for the configured retention so that a teacher
-- who comes back gets their room back. Holds no personal data.
CREATE TABLE retained_rooms (
    school_id bigint      NOT NULL,
    staff_id  bigint      NOT NULL,
    room      text        NOT NULL,
    left_at   timestamptz NOT NULL,
    PRIMARY KEY (school_id, staff_id)
);

CREATE TABLE parents (
    school_id      bigint NOT NULL,
    person_id      bigint NOT NULL,
    title          text   NOT NULL,
    first_name     text   NOT NULL,
    last_name      text   NOT NULL,
    email          text,
    phone          text,
    changed_in_run bigint NOT NULL,
    PRIMARY KEY (school_id, person_id)
);

CREATE TABLE parent_students (
    school_id               bigint  NOT NULL,
    person_id               bigint  NOT NULL,
    student_id              bigint  NOT NULL,
    relationship            text    NOT NULL,
    parental_responsibility boolean NOT NULL,
    changed_in_run          bigint  NOT NULL,
    PRIMARY KEY (school_id, person_id, student_id)
);

CREATE TABLE classes (
    school_id      bigint NOT NULL,
    class_id       bigint NOT NULL,
    name           text   NOT NULL,
    subject        text,
    kind           text   NOT NULL CHECK (kind IN ('class', 'tutor_group')),
    changed_in_run bigint NOT NULL,
    PRIMARY KEY (school_id, class_id)
);

CREATE TABLE class_students (
    school_id      bigint NOT NULL,
    class_id       bigint NOT NULL,
    student_id     bigint NOT NULL,
    changed_in_run bigint NOT NULL,
    PRIMARY KEY (school_id, class_id, student_id)
);

CREATE TABLE class_teachers (
    school_id      bigint  NOT NULL,
    class_id       bigint  NOT NULL,
    staff_id       bigint  NOT NULL,
    is_main        boolean NOT NULL,
    changed_in_run bigint  NOT NULL,
    PRIMARY KEY (school_id, class_id, staff_id)
);

CREATE TABLE groups (
    school_id      bigint NOT NULL,
    group_id       bigint NOT NULL,
    name           text   NOT NULL,
    kind           text   NOT NULL CHECK (kind IN ('house', 'year', 'band', 'custom')),
    changed_in_run bigint NOT NULL,
    PRIMARY KEY (school_id, group_id)
);

CREATE TABLE group_students (
    school_id      bigint NOT NULL,
    group_id       bigint NOT NULL,
    student_id     bigint NOT NULL,
    changed_in_run bigint NOT NULL,
    PRIMARY KEY (school_id, group_id, student_id)
);

-- The records that the school's latest successful run left out, and why. `run_id` is the run
-- that last set this record's reasons (a resync that changes nothing rewrites nothing).
-- `detail` holds IDs only: the unreadable fields' names and the records that caused a ripple.
CREATE TABLE exclusions (
    school_id  bigint NOT NULL,
    entity     text   NOT NULL,
    bromcom_id bigint NOT NULL,
    reasons    text[] NOT NULL,
    detail     jsonb  NOT NULL DEFAULT '{}',
    run_id     bigint NOT NULL,
    PRIMARY KEY (school_id, entity, bromcom_id)
);
