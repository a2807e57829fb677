-- The whole index, SQLite flavour. Mirrors the reference's Tables/*.sql (reference.md §14).
-- Only identity columns, timestamps and sequences differ from sql/schema/postgresql/0001_tables.sql;
-- tests/dao/test_schema.py compares the two.

CREATE TABLE partitions (
    partition_key INTEGER PRIMARY KEY AUTOINCREMENT,
    partition_name VARCHAR(64) NOT NULL,
    created_date TEXT NOT NULL
);

CREATE TABLE studies (
    study_key INTEGER PRIMARY KEY AUTOINCREMENT,
    partition_key BIGINT NOT NULL REFERENCES partitions (partition_key),
    study_instance_uid VARCHAR(64) NOT NULL,
    patient_id VARCHAR(64) NOT NULL DEFAULT '',
    patient_name VARCHAR(200),
    patient_name_words VARCHAR(400),
    referring_physician_name VARCHAR(200),
    referring_physician_name_words VARCHAR(400),
    study_date VARCHAR(8),
    study_time VARCHAR(16),
    study_description VARCHAR(64),
    accession_number VARCHAR(16),
    patient_birth_date VARCHAR(8),
    study_id VARCHAR(16),
    created_date TEXT NOT NULL
);

CREATE TABLE series (
    series_key INTEGER PRIMARY KEY AUTOINCREMENT,
    study_key BIGINT NOT NULL REFERENCES studies (study_key),
    partition_key BIGINT NOT NULL REFERENCES partitions (partition_key),
    series_instance_uid VARCHAR(64) NOT NULL,
    modality VARCHAR(16),
    performed_procedure_step_start_date VARCHAR(8),
    manufacturer_model_name VARCHAR(64),
    series_number BIGINT,
    created_date TEXT NOT NULL
);

-- status: 0 = creating, 1 = created (only created rows are visible).
CREATE TABLE instances (
    instance_key INTEGER PRIMARY KEY AUTOINCREMENT,
    partition_key BIGINT NOT NULL REFERENCES partitions (partition_key),
    study_key BIGINT NOT NULL REFERENCES studies (study_key),
    series_key BIGINT NOT NULL REFERENCES series (series_key),
    study_instance_uid VARCHAR(64) NOT NULL,
    series_instance_uid VARCHAR(64) NOT NULL,
    sop_instance_uid VARCHAR(64) NOT NULL,
    sop_class_uid VARCHAR(64),
    instance_number BIGINT,
    watermark BIGINT NOT NULL,
    original_watermark BIGINT,
    status SMALLINT NOT NULL DEFAULT 0,
    transfer_syntax_uid VARCHAR(64),
    number_of_frames INTEGER,
    blob_key VARCHAR(64) NOT NULL,
    blob_size BIGINT NOT NULL,
    created_date TEXT NOT NULL,
    last_status_updated_date TEXT NOT NULL
);

-- DICOM JSON of each instance (bulk data as BulkDataURI placeholders), computed once at store.
CREATE TABLE instance_metadata (
    watermark BIGINT PRIMARY KEY,
    partition_key BIGINT NOT NULL,
    dataset TEXT NOT NULL
);

-- Content-addressed files (decisions §3): a file is removed when ref_count reaches zero.
CREATE TABLE blobs (
    blob_key VARCHAR(64) PRIMARY KEY,
    size BIGINT NOT NULL,
    ref_count BIGINT NOT NULL,
    created_date TEXT NOT NULL
);

CREATE TABLE watermark_sequence (
    watermark INTEGER PRIMARY KEY AUTOINCREMENT
);

-- action: 0 = Create, 1 = Delete, 2 = Update. current_watermark NULL = deleted.
CREATE TABLE change_feed (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    action SMALLINT NOT NULL,
    partition_key BIGINT NOT NULL REFERENCES partitions (partition_key),
    study_instance_uid VARCHAR(64) NOT NULL,
    series_instance_uid VARCHAR(64) NOT NULL,
    sop_instance_uid VARCHAR(64) NOT NULL,
    original_watermark BIGINT NOT NULL,
    current_watermark BIGINT,
    file_path VARCHAR(1024)
);

-- level: 0 = instance, 1 = series, 2 = study. status: 0 adding, 1 ready, 2 deleting.
-- query_status: 0 disabled, 1 enabled.
CREATE TABLE extended_query_tags (
    tag_key INTEGER PRIMARY KEY AUTOINCREMENT,
    tag_path VARCHAR(64) NOT NULL,
    tag_vr VARCHAR(2) NOT NULL,
    tag_private_creator VARCHAR(64),
    tag_level SMALLINT NOT NULL,
    tag_status SMALLINT NOT NULL,
    query_status SMALLINT NOT NULL DEFAULT 1,
    error_count INTEGER NOT NULL DEFAULT 0,
    operation_id VARCHAR(32),
    created_time TEXT NOT NULL
);

-- Values of extended query tags, one table per value type (reference §8.3). series_key and
-- instance_key are 0 where the tag's level does not use them, so they can be in the key.
CREATE TABLE extended_query_tag_string (
    tag_key BIGINT NOT NULL REFERENCES extended_query_tags (tag_key),
    partition_key BIGINT NOT NULL,
    study_key BIGINT NOT NULL,
    series_key BIGINT NOT NULL DEFAULT 0,
    instance_key BIGINT NOT NULL DEFAULT 0,
    watermark BIGINT NOT NULL,
    tag_value VARCHAR(64) NOT NULL,
    PRIMARY KEY (tag_key, partition_key, study_key, series_key, instance_key)
);

CREATE TABLE extended_query_tag_long (
    tag_key BIGINT NOT NULL REFERENCES extended_query_tags (tag_key),
    partition_key BIGINT NOT NULL,
    study_key BIGINT NOT NULL,
    series_key BIGINT NOT NULL DEFAULT 0,
    instance_key BIGINT NOT NULL DEFAULT 0,
    watermark BIGINT NOT NULL,
    tag_value BIGINT NOT NULL,
    PRIMARY KEY (tag_key, partition_key, study_key, series_key, instance_key)
);

CREATE TABLE extended_query_tag_double (
    tag_key BIGINT NOT NULL REFERENCES extended_query_tags (tag_key),
    partition_key BIGINT NOT NULL,
    study_key BIGINT NOT NULL,
    series_key BIGINT NOT NULL DEFAULT 0,
    instance_key BIGINT NOT NULL DEFAULT 0,
    watermark BIGINT NOT NULL,
    tag_value REAL NOT NULL,
    PRIMARY KEY (tag_key, partition_key, study_key, series_key, instance_key)
);

-- DA/DT values normalised to text 'YYYYMMDDHHMMSS.ffffff' so ranges compare as strings.
CREATE TABLE extended_query_tag_datetime (
    tag_key BIGINT NOT NULL REFERENCES extended_query_tags (tag_key),
    partition_key BIGINT NOT NULL,
    study_key BIGINT NOT NULL,
    series_key BIGINT NOT NULL DEFAULT 0,
    instance_key BIGINT NOT NULL DEFAULT 0,
    watermark BIGINT NOT NULL,
    tag_value VARCHAR(32) NOT NULL,
    PRIMARY KEY (tag_key, partition_key, study_key, series_key, instance_key)
);

CREATE TABLE extended_query_tag_person_name (
    tag_key BIGINT NOT NULL REFERENCES extended_query_tags (tag_key),
    partition_key BIGINT NOT NULL,
    study_key BIGINT NOT NULL,
    series_key BIGINT NOT NULL DEFAULT 0,
    instance_key BIGINT NOT NULL DEFAULT 0,
    watermark BIGINT NOT NULL,
    tag_value VARCHAR(200) NOT NULL,
    tag_value_words VARCHAR(400),
    PRIMARY KEY (tag_key, partition_key, study_key, series_key, instance_key)
);

CREATE TABLE extended_query_tag_errors (
    tag_key BIGINT NOT NULL REFERENCES extended_query_tags (tag_key),
    partition_key BIGINT NOT NULL,
    watermark BIGINT NOT NULL,
    study_instance_uid VARCHAR(64) NOT NULL,
    series_instance_uid VARCHAR(64) NOT NULL,
    sop_instance_uid VARCHAR(64) NOT NULL,
    error_message VARCHAR(400) NOT NULL,
    created_time TEXT NOT NULL,
    PRIMARY KEY (tag_key, watermark)
);

-- Long-running operations (reference §9), claimed by a worker in any process.
CREATE TABLE operations (
    operation_id VARCHAR(32) PRIMARY KEY,
    operation_type VARCHAR(32) NOT NULL,
    status VARCHAR(16) NOT NULL,
    created_time TEXT NOT NULL,
    last_updated_time TEXT NOT NULL,
    percent_complete INTEGER NOT NULL DEFAULT 0,
    resources TEXT NOT NULL DEFAULT '[]',
    results TEXT,
    payload TEXT,
    owner VARCHAR(100),
    heartbeat TEXT
);

INSERT INTO partitions (partition_key, partition_name, created_date)
VALUES (1, 'Microsoft.Default', strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'));
