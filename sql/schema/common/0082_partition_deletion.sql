-- Partition deletion (issue #20). status: 0 active, 1 deleting (stores refused, data being
-- removed by a deletePartition operation), 2 deleted: the row stays, as a tombstone, so the
-- change feed's entries of the partition (its Delete entries last) keep their partition name;
-- the name is free again, as the unique index now covers the partitions that are not deleted.
ALTER TABLE partitions ADD COLUMN status SMALLINT NOT NULL DEFAULT 0;
DROP INDEX ux_partitions_name;
CREATE UNIQUE INDEX ux_partitions_name ON partitions (lower(partition_name)) WHERE status <> 2;
