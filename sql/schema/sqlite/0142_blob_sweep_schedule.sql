-- When the periodic blob sweep last started, on any node (issue #17; see
-- postgresql/0142_blob_sweep_schedule.sql).
CREATE TABLE blob_sweep_schedule (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_started TEXT
);
INSERT INTO blob_sweep_schedule (singleton, last_started) VALUES (1, NULL);
