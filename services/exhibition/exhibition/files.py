"""Booth files: which types are allowed, the type read from the content, names, and HTTP ranges. No I/O here.

The type of an upload is decided by its bytes, not its name: `filetype` recognises PDF, PNG, JPEG and MP4 by their
signatures; DOCX, PPTX and XLSX are ZIP archives whose `[Content_Types].xml` names the main part (so a macro-enabled
document or any other ZIP is refused); plain text is valid UTF-8 without control characters. The declared type
(the part's Content-Type, or the file name's extension when the client sent a generic type) must agree.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from urllib.parse import quote

import filetype

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
MP4 = "video/mp4"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXT = "text/plain"

MATERIAL_TYPES: dict[str, str] = {
    PDF: "a PDF document",
    PNG: "a PNG image",
    JPEG: "a JPEG image",
    MP4: "an MP4 video",
    DOCX: "a Word document (DOCX)",
    PPTX: "a PowerPoint presentation (PPTX)",
    XLSX: "an Excel workbook (XLSX)",
    TEXT: "a plain text file",
}
LOGO_TYPES = (PNG, JPEG)

EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    MP4: (".mp4", ".m4v"),
    DOCX: (".docx",),
    PPTX: (".pptx",),
    XLSX: (".xlsx",),
    TEXT: (".txt", ".text"),
}
_BY_EXTENSION = {ext: mime for mime, exts in EXTENSIONS.items() for ext in exts}
_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG}
GENERIC = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}

# The main part of each Office Open XML document kind, as its [Content_Types].xml names it.
_OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": PPTX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
}
_CONTENT_TYPE_ATTR = re.compile(rb'ContentType\s*=\s*"([^"]+)"')
_CONTENT_TYPES_MAX = 1024 * 1024
_MP4_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"mp71", b"avc1", b"M4V ",
               b"M4VH", b"M4VP", b"dash", b"MSNV", b"NDAS", b"f4v ", b"3gp4", b"3gp5", b"3gp6", b"mmp4"}
_TEXT_CONTROLS = {c for c in range(32) if chr(c) not in "\t\n\r\f"} | {127}


class FileRefused(ValueError):
    """An upload that may not be stored: `status` is the HTTP answer (415 or 422), the message a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def describe(mime: str) -> str:
    return MATERIAL_TYPES.get(mime, mime)


def normalise(declared: str | None) -> str:
    """'Image/JPG; charset=x' -> 'image/jpeg'; '' when nothing usable was declared."""
    mime = (declared or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(mime, mime)


def extension(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot > 0 else ""


def type_of_name(filename: str) -> str | None:
    return _BY_EXTENSION.get(extension(filename))


def _ooxml(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("[Content_Types].xml")
            if info.file_size > _CONTENT_TYPES_MAX:
                return None
            listing = archive.read(info)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, NotImplementedError, EOFError, ValueError):
        return None
    kinds = {_OOXML_MAIN[t.decode("ascii", "replace")] for t in _CONTENT_TYPE_ATTR.findall(listing)
             if t.decode("ascii", "replace") in _OOXML_MAIN}
    return kinds.pop() if len(kinds) == 1 else None


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    text = text.removeprefix("\ufeff")
    if any(ord(ch) in _TEXT_CONTROLS for ch in text):
        return False
    return not any(unicodedata.category(ch) == "Cs" for ch in text)


def sniff(data: bytes) -> str | None:
    """The allowed type these bytes are, or None when they are none of them."""
    if not data:
        return None
    if data.startswith(b"PK\x03\x04"):
        return _ooxml(data)
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return MP4 if data[8:12] in _MP4_BRANDS else None
    kind = filetype.guess(data[:8192])
    if kind is not None:
        mime = normalise(kind.mime)
        return mime if mime in (PDF, PNG, JPEG) else None
    if data.startswith(b"%PDF-"):
        return PDF
    return TEXT if _is_text(data) else None


def check_upload(data: bytes, filename: str, declared: str | None, allowed: tuple[str, ...] | None = None) -> str:
    """The content type to store and serve: the sniffed type, when it is allowed and agrees with what the client
    declared (the part's Content-Type, else the name's extension). FileRefused with a sentence otherwise."""
    allowed = allowed or tuple(MATERIAL_TYPES)
    accepted = ", ".join(describe(m).split(" ", 1)[1] for m in allowed)
    if not data:
        raise FileRefused(422, "The file is empty.")
    sniffed = sniff(data)
    if sniffed is None or sniffed not in allowed:
        what = f"is {describe(sniffed)}" if sniffed else "is not a type we accept"
        raise FileRefused(415, f"The content of '{filename}' {what}; accepted here: {accepted}.")
    mime = normalise(declared)
    named = type_of_name(filename)
    if mime in GENERIC:
        mime = named or sniffed
    if mime != sniffed:
        raise FileRefused(415, f"'{filename}' was sent as {describe(mime)} but its content is {describe(sniffed)}; "
                               "send it with its real type.")
    if named is not None and named != sniffed:
        raise FileRefused(415, f"The name '{filename}' says {describe(named)} but the content is "
                               f"{describe(sniffed)}; rename the file.")
    return sniffed


def safe_filename(filename: str | None, mime: str) -> str:
    """A plain file name (no folders, no control characters) that ends with an extension of its type."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C").strip()
    name = name.strip(". ") or "material"
    if extension(name) not in EXTENSIONS.get(mime, ()):
        name = f"{name}{EXTENSIONS[mime][0]}" if mime in EXTENSIONS else name
    if len(name) > 150:
        ext = extension(name)
        name = name[: 150 - len(ext)] + ext
    return name


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266: an ASCII fallback plus the UTF-8 name (RFC 8187)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%' else "_" for ch in filename)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# -- ranges (RFC 9110 section 14) -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiable(ValueError):
    pass


_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range a `Range` header asks for, or None to send the whole file (no header, a header we ignore
    such as several ranges or another unit, or a syntax error: RFC 9110 lets a server ignore those).
    RangeNotSatisfiable when the range lies beyond the end."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE.match(spec)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # suffix: the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(size - count, 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored
    if start >= size:
        raise RangeNotSatisfiable(header)
    return ByteRange(start, min(end, size - 1))
