-- When a run last compared each table of a school in full. The edit count misses edits that a
-- role able to write roster rows hides (`SET LOCAL bromsync.run = 'on'`, as a run does), or
-- that were made with the triggers disabled; so a table goes unread on the strength of its
-- fingerprint only while its last full comparison is recent (`sync.full_compare_every_hours`).
-- The fingerprints kept so far get the oldest time: each school's next run compares in full.
ALTER TABLE roster_fingerprints
    ADD COLUMN compared_at timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE roster_fingerprints
    ALTER COLUMN compared_at SET DEFAULT now();
