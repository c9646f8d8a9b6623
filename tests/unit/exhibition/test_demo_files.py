"""The small files the demo loader generates are valid of their kind."""

from __future__ import annotations

import re
import struct
import zlib

from exhibition import files
from plenary_demo.load_exhibition import _materials, tiny_pdf, tiny_png
from plenary_demo.programme import generate_exhibitors


def test_the_pdf_has_a_correct_cross_reference_table() -> None:
    pdf = tiny_pdf("Digital (Bridges) \\ 2020", ["WSIS Action Lines: C2, C4", "Ünïcode becomes ASCII"])
    assert files.sniff(pdf) == files.PDF
    assert pdf.endswith(b"%%EOF\n")
    start = int(re.search(rb"startxref\n(\d+)\n", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[start:].startswith(b"xref\n0 6\n")
    offsets = [int(n) for n in re.findall(rb"(\d{10}) 00000 n", pdf)]
    assert [pdf[o:].split(b"\n", 1)[0] for o in offsets] == [f"{n} 0 obj".encode() for n in range(1, 6)]
    length = int(re.search(rb"/Length (\d+)", pdf).group(1))  # type: ignore[union-attr]
    stream = pdf.split(b"stream\n", 1)[1].split(b"endstream", 1)[0]
    assert len(stream) == length
    assert b"(Digital \\(Bridges\\) \\\\ 2020)" in stream


def test_the_png_chunks_carry_right_crcs_and_the_image_data() -> None:
    png = tiny_png((10, 20, 30), size=16)
    assert files.sniff(png) == files.PNG
    position, kinds = 8, []
    while position < len(png):
        (length,) = struct.unpack(">I", png[position:position + 4])
        kind, data = png[position + 4:position + 8], png[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", png[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        if kind == b"IDAT":
            assert len(zlib.decompress(data)) == 16 * (1 + 16 * 3)
        kinds.append(kind)
        position += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_each_booth_gets_two_materials_that_pass_the_upload_checks() -> None:
    exhibitor = generate_exhibitors(2020)[0]
    for _title, filename, content_type, data in _materials(exhibitor):
        assert files.check_upload(data, filename, content_type) == content_type
