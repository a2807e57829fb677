-- When the periodic blob sweep last started, on any node (issue #17): with several nodes on one
-- database, the node whose timer fires first claims the sweep of each interval and the others
-- skip it (services/blob_sweep.py PeriodicSweep), so a large bucket is listed once per
-- interval, not once per node.
CREATE TABLE blob_sweep_schedule (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_started TIMESTAMPTZ
);
INSERT INTO blob_sweep_schedule (singleton, last_started) VALUES (1, NULL);
