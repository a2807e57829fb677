-- Data safety (issue #15).
-- A file whose last reference a DELETE released keeps its row (ref_count 0) until the file is
-- removed after the DELETE committed; these rows are what is left to remove after a crash.
CREATE INDEX blobs_released ON blobs (blob_key) WHERE ref_count <= 0;

-- The store identity: written into the database and the blob store on first start, so a
-- server never pairs an index with another archive's files (docs/operations.md).
CREATE TABLE store_identity (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    identity VARCHAR(64) NOT NULL
);
