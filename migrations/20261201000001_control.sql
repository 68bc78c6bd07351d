-- Control of a fleet of daemons through the database they share (`bromsync resync`,
-- `bromsync approve`): requests to resync a school, approvals of removals a run was refused, and
-- what each refused run would have removed, so that an approval can be held to exactly that.
-- New tables only (and one more trigger word): the default privileges of deploy/grants.sql give
-- the service's role what it needs.

ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_trigger_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_trigger_check
    CHECK (trigger IN ('schedule', 'signal', 'manual', 'request'));

-- One request to run a school once. A daemon that takes the school's lock claims every request
-- of the school not yet done (claimed_at, claimed_by) and marks them done, with its run, in the
-- run's own final transaction. A claim whose run died stays not done, and the next lock holder
-- claims it again.
CREATE TABLE control_requests (
    request_id    bigserial   PRIMARY KEY,
    school_id     bigint      NOT NULL,
    -- the OS user of `bromsync resync`/`approve`, or the dashboard's user
    requested_by  text        NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at    timestamptz,
    -- the daemon that claimed it last (host:pid)
    claimed_by    text,
    served_by_run bigint      REFERENCES sync_runs (run_id) ON DELETE SET NULL,
    done_at       timestamptz
);
CREATE INDEX control_requests_waiting ON control_requests (school_id) WHERE done_at IS NULL;

-- What a refused run would have removed: per roster table, the removed rows' keys (the key
-- columns joined by a tab, as COPY writes them).
CREATE TABLE refused_removals (
    run_id     bigint NOT NULL REFERENCES sync_runs (run_id) ON DELETE CASCADE,
    table_name text   NOT NULL,
    keys       text[] NOT NULL,
    PRIMARY KEY (run_id, table_name)
);

-- An operator's decision on a refused run's removals. The latest decision on a run counts; an
-- approval is used by the next run that commits (used_by_run), and lets it remove what the
-- refused run would have removed and nothing more.
CREATE TABLE removal_approvals (
    approval_id bigserial   PRIMARY KEY,
    school_id   bigint      NOT NULL,
    run_id      bigint      NOT NULL REFERENCES sync_runs (run_id) ON DELETE CASCADE,
    decision    text        NOT NULL CHECK (decision IN ('approved', 'rejected')),
    decided_by  text        NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now(),
    used_by_run bigint      REFERENCES sync_runs (run_id) ON DELETE SET NULL
);
CREATE INDEX removal_approvals_school ON removal_approvals (school_id, approval_id DESC);
