"""What an upload is, judged by its bytes; names, dispositions and byte ranges."""

from __future__ import annotations

import pytest
from exhibition import files


@pytest.mark.parametrize(("name", "expected"), [
    ("pdf", files.PDF), ("png", files.PNG), ("jpeg", files.JPEG), ("mp4", files.MP4), ("docx", files.DOCX),
    ("xlsx", files.XLSX), ("pptx", files.PPTX), ("text", files.TEXT),
])
def test_each_accepted_type_is_recognised_from_its_content(samples, name: str, expected: str) -> None:
    assert files.sniff(getattr(samples, name)) == expected


@pytest.mark.parametrize("data", [
    b"GIF89a" + b"\x00" * 32,  # an image type we do not take
    b"MZ\x90\x00\x03" + b"\x00" * 64,  # a Windows executable
    b"\x00\x01\x02\x03binary",  # not text: control bytes
    b"\xc3\x28 invalid utf-8",
    b"PK\x03\x04 not really a zip",
    b"\x00\x00\x00\x18ftypqt  " + b"\x00" * 16,  # QuickTime, not MP4
])
def test_other_content_is_not_recognised(data: bytes) -> None:
    assert files.sniff(data) is None


def test_a_zip_that_is_not_an_office_document_or_has_macros_is_refused(samples) -> None:
    assert files.sniff(samples.docm) is None
    with pytest.raises(files.FileRefused) as refused:
        files.check_upload(samples.docm, "report.docx", files.DOCX)
    assert refused.value.status == 415
    assert "not a type we accept" in str(refused.value)


def test_a_declared_type_that_differs_from_the_content_is_refused_with_a_sentence(samples) -> None:
    with pytest.raises(files.FileRefused) as refused:
        files.check_upload(samples.png, "poster.pdf", "application/pdf")
    assert refused.value.status == 415
    assert str(refused.value) == ("'poster.pdf' was sent as a PDF document but its content is a PNG image; send it "
                                  "with its real type.")


def test_a_generic_declared_type_falls_back_to_the_name_then_to_the_content(samples) -> None:
    assert files.check_upload(samples.pdf, "brochure.pdf", "application/octet-stream") == files.PDF
    assert files.check_upload(samples.pdf, "brochure", None) == files.PDF
    with pytest.raises(files.FileRefused, match=r"The name 'brochure\.png' says a PNG image"):
        files.check_upload(samples.pdf, "brochure.png", "application/pdf")


def test_declared_types_are_compared_without_parameters_and_aliases(samples) -> None:
    assert files.check_upload(samples.text, "facts.txt", "text/plain; charset=utf-8") == files.TEXT
    assert files.check_upload(samples.jpeg, "photo.jpg", "image/JPG") == files.JPEG


def test_an_empty_file_or_a_type_not_allowed_here_is_refused(samples) -> None:
    with pytest.raises(files.FileRefused) as empty:
        files.check_upload(b"", "x.pdf", files.PDF)
    assert empty.value.status == 422
    with pytest.raises(files.FileRefused, match=r"accepted here: PNG image, JPEG image"):
        files.check_upload(samples.pdf, "logo.pdf", files.PDF, files.LOGO_TYPES)


def test_file_names_lose_folders_and_control_characters_and_get_their_extension() -> None:
    assert files.safe_filename("../../etc/pass\x00wd", files.PDF) == "passwd.pdf"
    assert files.safe_filename("C:\\Users\\me\\deck.pptx", files.PPTX) == "deck.pptx"
    assert files.safe_filename("", files.TEXT) == "material.txt"
    assert files.safe_filename("photo.JPEG", files.JPEG) == "photo.JPEG"
    assert len(files.safe_filename("x" * 400 + ".pdf", files.PDF)) == 150


def test_content_disposition_has_an_ascii_fallback_and_the_utf8_name() -> None:
    value = files.content_disposition('Brochüre "2020".pdf')
    assert value == ("attachment; filename=\"Broch_re _2020_.pdf\"; "
                     "filename*=UTF-8''Broch%C3%BCre%20%222020%22.pdf")


@pytest.mark.parametrize(("header", "expected"), [
    (None, None),
    ("bytes=0-9", (0, 9)),
    ("bytes=10-", (10, 99)),
    ("bytes=-5", (95, 99)),
    ("bytes=-500", (0, 99)),
    ("bytes=90-500", (90, 99)),
    ("bytes=0-1,5-6", None),  # several ranges: the whole file
    ("items=0-1", None),
    ("bytes=9-3", None),
    ("bytes=abc", None),
])
def test_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    parsed = files.parse_range(header, 100)
    got = (parsed.start, parsed.end) if parsed else None
    assert got == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-160", "bytes=-0"])
def test_ranges_beyond_the_end_are_not_satisfiable(header: str) -> None:
    with pytest.raises(files.RangeNotSatisfiable):
        files.parse_range(header, 100)


def test_content_range() -> None:
    assert files.ByteRange(5, 9).content_range(100) == "bytes 5-9/100"
    assert files.ByteRange(5, 9).length == 5
