-- The Data Dashboard's own tables (`[dashboard]`, docs/dashboard.md): its users, their
-- sessions, failed logins (for slowing and locking), and the audit of who logged in, downloaded,
-- resynced or approved. None holds pupils' data: users are school staff and operators, and the
-- audit names schools, tables and Bromcom IDs only.
CREATE TABLE dashboard_users (
    user_id       bigserial   PRIMARY KEY,
    username      text        NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 200),
    role          text        NOT NULL CHECK (role IN ('operator', 'school')),
    -- The schools a school user is given (an operator sees every school; this stays empty).
    schools       bigint[]    NOT NULL DEFAULT '{}',
    -- argon2id, in the PHC string format.
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A session: only the SHA-256 of its random 256-bit token is kept, so a copy of this table
-- logs no one in. The CSRF token is the session's own, sent in every form.
CREATE TABLE dashboard_sessions (
    token_hash  bytea       PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES dashboard_users ON DELETE CASCADE,
    csrf_token  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- Failed logins by the name tried (known or not, so that a guess learns nothing), kept as the
-- SHA-256 of the name: a password typed into the name field is not kept in the clear.
CREATE TABLE dashboard_login_failures (
    name_digest    bytea       PRIMARY KEY,
    failures       integer     NOT NULL,
    last_failed_at timestamptz NOT NULL,
    locked_until   timestamptz
);

-- Who did what, when: logins (and refused ones), logouts, downloads, resyncs, approvals.
CREATE TABLE dashboard_audit (
    audit_id  bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    username  text        NOT NULL,
    action    text        NOT NULL,
    school_id bigint,
    -- IDs, table names and codes only.
    detail    text        NOT NULL DEFAULT ''
);
CREATE INDEX dashboard_audit_at ON dashboard_audit (at DESC);
