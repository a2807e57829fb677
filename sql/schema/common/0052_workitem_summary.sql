-- UPS-RS search (issue #18): each workitem's default search attributes as ready DICOM JSON
-- text, written with the dataset, so a search without includefield returns rows as stored
-- (no JSON parsing per result). NULL for rows written before this column: built on the fly.
ALTER TABLE workitems ADD COLUMN summary TEXT;
