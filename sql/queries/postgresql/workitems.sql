-- UPS-RS workitems, PostgreSQL flavour: the row of a workitem about to change is locked, so
-- concurrent state changes of one workitem run one after the other (reference-2.md §1.5).

-- name: lock_workitem(partition_key, workitem_uid)^
-- The workitem with this UID in the partition, locked until the transaction ends; or None.
SELECT workitem_key, workitem_uid, transaction_uid, procedure_step_state, dataset
  FROM workitems
 WHERE partition_key = :partition_key AND workitem_uid = :workitem_uid
   FOR UPDATE;
