"""Accept negotiation for WADO-RS (reference.md §4.2, §4.5; decisions §5)."""
from __future__ import annotations

import pytest

from app.dicomweb import accept
from app.dicomweb.accept import Negotiated, negotiate, negotiate_rendered
from app.errors import NotAcceptableError

EXPLICIT = "1.2.840.10008.1.2.1"
J2K = "1.2.840.10008.1.2.4.90"
DICOM = "application/dicom"
OCTET = "application/octet-stream"


@pytest.mark.parametrize("header,rules,expected", [
    (None, accept.STUDY_RULES, Negotiated(DICOM, True, "*")),
    ("", accept.INSTANCE_RULES, Negotiated(DICOM, True, "*")),
    ("*/*", accept.FRAME_RULES, Negotiated(OCTET, True, "*")),
    ('multipart/related; type="application/dicom"', accept.STUDY_RULES,
     Negotiated(DICOM, True, EXPLICIT)),
    ("multipart/related; type=application/dicom; transfer-syntax=*", accept.STUDY_RULES,
     Negotiated(DICOM, True, "*")),
    (f"multipart/related; type=application/dicom; transfer-syntax={J2K}", accept.STUDY_RULES,
     Negotiated(DICOM, True, J2K)),
    ("APPLICATION/DICOM", accept.INSTANCE_RULES, Negotiated(DICOM, False, EXPLICIT)),
    ("application/dicom; transfer-syntax=*", accept.INSTANCE_RULES, Negotiated(DICOM, False, "*")),
    ("multipart/related", accept.INSTANCE_RULES, Negotiated(DICOM, True, EXPLICIT)),
    ("application/octet-stream", accept.FRAME_RULES, Negotiated(OCTET, False, EXPLICIT)),
    ("multipart/related; type=image/jp2", accept.FRAME_RULES, Negotiated("image/jp2", True, J2K)),
    # quality first; equal quality: an explicit * wins
    ("application/dicom;q=0.2, multipart/related; type=application/dicom; q=0.9",
     accept.INSTANCE_RULES, Negotiated(DICOM, True, EXPLICIT)),
    ("application/dicom, application/dicom; transfer-syntax=*", accept.INSTANCE_RULES,
     Negotiated(DICOM, False, "*")),
    ('text/html, multipart/related; type="application/dicom", */*;q=0.1', accept.STUDY_RULES,
     Negotiated(DICOM, True, EXPLICIT)),
])
def test_negotiate_acceptable_returns_format(header, rules, expected):
    assert negotiate(header, rules) == expected


@pytest.mark.parametrize("header,rules", [
    ("application/dicom", accept.STUDY_RULES),
    ("application/octet-stream", accept.STUDY_RULES),
    ("multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2.4.100",
     accept.STUDY_RULES),
    ("multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50",
     accept.INSTANCE_RULES),
    ("image/jp2", accept.FRAME_RULES),
    (f"application/octet-stream; transfer-syntax={J2K}", accept.FRAME_RULES),
    ("application/dicom; q=0", accept.INSTANCE_RULES),
    ("application/dicom; q=2", accept.INSTANCE_RULES),
    ("application/dicom; q=x", accept.INSTANCE_RULES),
    ("garbage", accept.INSTANCE_RULES),
    ('multipart/related; type="', accept.INSTANCE_RULES),
    (",,,;=", accept.INSTANCE_RULES),
])
def test_negotiate_unacceptable_raises_406(header, rules):
    with pytest.raises(NotAcceptableError) as raised:
        negotiate(header, rules)
    assert raised.value.text == "The request headers are not acceptable"


def test_negotiate_rendered():
    assert negotiate_rendered(None) == "image/jpeg"
    assert negotiate_rendered("image/PNG") == "image/png"
    assert negotiate_rendered("*/*") == "image/jpeg"
    with pytest.raises(NotAcceptableError) as raised:
        negotiate_rendered("image/png, image/jpeg")
    assert raised.value.text == accept.MULTIPLE_ACCEPT_HEADERS
    for header in ("image/gif", "application/dicom", "image/png; q=0"):
        with pytest.raises(NotAcceptableError):
            negotiate_rendered(header)
