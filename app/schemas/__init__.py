"""marshmallow schemas for our own JSON resources (not DICOM JSON). camelCase on the wire."""
