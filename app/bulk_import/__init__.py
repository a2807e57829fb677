"""Bulk import (``flask --app wsgi import``): DICOM files from folders and zip archives into a
partition of the local store, or into any DICOMweb server over STOW-RS."""
