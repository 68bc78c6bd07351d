-- What the last run that checked each table of a school left in it: a digest of its rows (as
-- the run rendered them) and a fingerprint of the row versions Postgres then held (their count
-- and a sum of hashes of their `xmin`). A run whose new rows have the same digest and which finds
-- the same fingerprint need not read the table back to compare; any other writer changes the
-- fingerprint. Written in the run's transaction. No personal data: hashes and counts.
CREATE TABLE roster_fingerprints (
    school_id     bigint NOT NULL,
    table_name    text   NOT NULL,
    digest        bytea  NOT NULL,
    row_count     bigint NOT NULL,
    xmin_hash_sum text   NOT NULL,
    PRIMARY KEY (school_id, table_name)
);
