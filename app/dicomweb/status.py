"""STOW-RS failure and warning reason codes (PS3.18 §10.5.3, reference.md §3.5)."""

#: PS3.7 Annex C: general processing failure (unexpected error while storing).
PROCESSING_FAILURE = 0x0110  # 272
#: Validation failure: unreadable DICOM, missing/invalid required tags, study UID mismatch.
VALIDATION_FAILURE = 0xA900  # 43264
#: The instance already exists in this partition (PS3.4 B.2.3 "Duplicate SOP Instance").
SOP_INSTANCE_ALREADY_EXISTS = 0xB00E  # 45070
#: The instance exists but is still being created.
PENDING_SOP_INSTANCE = 0xB00F  # 45071
#: PS3.4 Annex B "Refused: Out of Resources": the instance would exceed its partition's quota
#: (ours, issue #20).
OUT_OF_RESOURCES = 0xA700  # 42752

#: Warning: the dataset does not match the SOP class (implicit VR file).
DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xB007  # 45063
#: v2 only: the dataset has validation warnings (elements dropped from the stored metadata).
DATASET_HAS_VALIDATION_WARNINGS = 1

#: Prefix of FailedAttributesSequence error comments.
ERROR_COMMENT_PREFIX = "DICOM100"
