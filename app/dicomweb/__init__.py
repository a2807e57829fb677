"""Pure DICOM and HTTP helpers: no Flask, no database."""
from pydicom import config as _pydicom_config

# We validate values ourselves (validation.py) and report problems per instance; pydicom's own
# warnings would only flood the log.
_pydicom_config.settings.reading_validation_mode = _pydicom_config.IGNORE
_pydicom_config.settings.writing_validation_mode = _pydicom_config.IGNORE
