-- Schools that sign parents and staff in through single sign-on need the synced email to
-- match: after each run of such a school, how many parents and teachers of the roster have
-- no email, as {"parents": N, "teachers": M}. NULL for schools without SSO (and older runs).
ALTER TABLE sync_runs ADD COLUMN sso_missing_email jsonb;
