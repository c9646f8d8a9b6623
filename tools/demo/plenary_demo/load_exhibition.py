"""The demo loader's exhibition part: the 130 exhibitors of `generate_exhibitors(seed)` with their booths (videos,
a logo and two small materials each) and some visits and downloads, sent through the gateway's public API.

Idempotent: an exhibitor is found again by its key (the API answers 409 with its id), its booth is brought to the
generated content with a PATCH (a no-op when nothing changed), files already there are not uploaded again, and a
booth that already has visits gets no more demo visits. The small files are generated here, valid of their kind.
"""

from __future__ import annotations

import asyncio
import random
import struct
import zlib
from typing import Any

import httpx

from plenary_demo.programme import generate_exhibitors

API = "/api/exhibition"
VISITED_SHARE = 0.6  # of the booths get demo visits
MAX_VISITORS_PER_BOOTH = 12


def tiny_pdf(title: str, lines: list[str] | None = None) -> bytes:
    """A one-page PDF 1.4 document showing `title` (and `lines`), with a correct cross-reference table."""

    def escape(text: str) -> str:
        ascii_text = text.encode("ascii", "replace").decode()
        return ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    shown = [title, *(lines or [])]
    stream = "BT /F1 18 Tf 56 780 Td (" + escape(shown[0]) + ") Tj ET\n" + "".join(
        f"BT /F1 11 Tf 56 {750 - 16 * i} Td ({escape(line)}) Tj ET\n" for i, line in enumerate(shown[1:])
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream.encode())} >>\nstream\n{stream}endstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def tiny_png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    """A square PNG of one colour with a lighter diagonal band."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    light = tuple(min(255, c + 80) for c in rgb)
    rows = b"".join(
        b"\x00" + b"".join(bytes(light if abs(x - y) < size // 8 else rgb) for x in range(size)) for y in range(size)
    )
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _colour(key: str) -> tuple[int, int, int]:
    digest = zlib.crc32(key.encode())
    return (digest & 0x7F) + 20, ((digest >> 8) & 0x7F) + 20, ((digest >> 16) & 0x7F) + 20


def _materials(exhibitor: dict[str, Any]) -> list[tuple[str, str, str, bytes]]:
    """(title, file name, content type, bytes) of the booth's demo materials."""
    name = exhibitor["organisation"]
    key = exhibitor["key"]
    tags = exhibitor["tags"]
    lines = [
        f"Stakeholder type: {exhibitor['stakeholder_type']}; country: {exhibitor['country']}.",
        f"WSIS Action Lines: {', '.join(tags['action_lines']) or '-'}; SDGs: "
        f"{', '.join(str(n) for n in tags['sdgs']) or '-'}.",
        f"More: {exhibitor['website']}",
    ]
    facts = "\n".join([f"{name}: fact sheet", "", exhibitor["description"], "", *lines, ""])
    return [
        ("Project brochure", f"{key}-brochure.pdf", "application/pdf", tiny_pdf(f"{name}", lines)),
        ("Fact sheet", f"{key}-fact-sheet.txt", "text/plain", facts.encode()),
    ]


def _booth_body(exhibitor: dict[str, Any]) -> dict[str, Any]:
    return {
        "organisation": exhibitor["organisation"],
        "stakeholder_type": exhibitor["stakeholder_type"],
        "country": exhibitor["country"],
        "description": exhibitor["description"],
        "website": exhibitor["website"],
        "tags": exhibitor["tags"],
        "videos": exhibitor["videos"],
    }


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")


async def _exhibitor(client: httpx.AsyncClient, headers: dict[str, str], exhibitor: dict[str, Any],
                     counts: dict[str, int]) -> tuple[str, bool]:
    """Create the exhibitor (or find it by key and bring it up to date); upload what its booth lacks. Returns its id
    and whether it was created now."""
    response = await client.post(f"{API}/exhibitors", json={"key": exhibitor["key"], **_booth_body(exhibitor)},
                                 headers=headers)
    if response.status_code == 409 and response.json().get("exhibitor_id"):
        exhibitor_id = str(response.json()["exhibitor_id"])
        patched = await client.patch(f"{API}/exhibitors/{exhibitor_id}", json=_booth_body(exhibitor),
                                     headers=headers)
        _check(patched, f"updating exhibitor {exhibitor['key']}")
        booth = patched.json()
        counts["existing"] += 1
        created = False
    else:
        _check(response, f"creating exhibitor {exhibitor['key']}")
        booth = response.json()
        exhibitor_id = str(booth["id"])
        counts["created"] += 1
        created = True
    if not booth.get("logo_url"):
        logo = tiny_png(_colour(exhibitor["key"]))
        uploaded = await client.put(f"{API}/exhibitors/{exhibitor_id}/logo", headers=headers,
                                    files={"file": (f"{exhibitor['key']}-logo.png", logo, "image/png")})
        _check(uploaded, f"logo of {exhibitor['key']}")
    have = {m["title"] for m in booth.get("materials") or []}
    for title, filename, content_type, data in _materials(exhibitor):
        if title in have:
            continue
        # the key makes a retried upload (after a timeout) land once
        once = {**headers, "Idempotency-Key": f"demo-material-{exhibitor_id}-{filename}"}
        uploaded = await client.post(f"{API}/exhibitors/{exhibitor_id}/materials", headers=once,
                                     data={"title": title}, files={"file": (filename, data, content_type)})
        _check(uploaded, f"material {filename}")
        counts["materials"] += 1
    return exhibitor_id, created


async def _visits(client: httpx.AsyncClient, organiser: dict[str, str], exhibitor_id: str, created: bool,
                  visitors: list[str], rng: random.Random, counts: dict[str, int]) -> None:
    if not created:  # the booth is from an earlier run: visit it only if that run did not get to it
        figures = await client.get(f"{API}/exhibitors/{exhibitor_id}/figures", headers=organiser)
        _check(figures, f"figures of {exhibitor_id}")
        if figures.json()["visits"] > 0:
            return
    booth = (await client.get(f"{API}/exhibitors/{exhibitor_id}", headers=organiser)).json()
    materials = booth.get("materials") or []
    for token in rng.sample(visitors, min(len(visitors), rng.randint(1, MAX_VISITORS_PER_BOOTH))):
        headers = {"Authorization": f"Bearer {token}"}
        visited = await client.post(f"{API}/exhibitors/{exhibitor_id}/visits", headers=headers)
        if visited.status_code == 403:
            return  # the exhibition is not open: no visits yet
        _check(visited, f"visiting {exhibitor_id}")
        counts["visits"] += 1
        if materials and rng.random() < 0.4:
            material = rng.choice(materials)
            downloaded = await client.get(f"{API}/exhibitors/{exhibitor_id}/materials/{material['id']}/content",
                                          headers=headers)
            _check(downloaded, f"downloading {material['id']}")
            counts["downloads"] += 1


async def load_exhibition(client: httpx.AsyncClient, organiser_token: str, seed: int,
                          attendee_tokens: list[str] | None = None, *, concurrency: int = 8) -> dict[str, Any]:
    """Load the exhibition through the gateway (`client` has the gateway's base URL). Returns what was done and the
    exhibitor ids by key (for giving exhibitor staff their `exhibitor_id`)."""
    organiser = {"Authorization": f"Bearer {organiser_token}"}
    exhibitors = generate_exhibitors(seed)
    counts = {"created": 0, "existing": 0, "materials": 0, "visits": 0, "downloads": 0}
    gate = asyncio.Semaphore(concurrency)

    async def one(exhibitor: dict[str, Any]) -> tuple[str, tuple[str, bool]]:
        async with gate:
            return exhibitor["key"], await _exhibitor(client, organiser, exhibitor, counts)

    loaded = dict(await asyncio.gather(*(one(e) for e in exhibitors)))
    ids = {key: exhibitor_id for key, (exhibitor_id, _) in loaded.items()}
    new = {exhibitor_id for exhibitor_id, created in loaded.values() if created}
    rng = random.Random(seed)
    visitors = list(attendee_tokens or [organiser_token])
    visited = sorted(rng.sample(sorted(ids.values()), round(VISITED_SHARE * len(ids))))
    rngs = {exhibitor_id: random.Random(f"{seed}:{exhibitor_id}") for exhibitor_id in visited}

    async def visit(exhibitor_id: str) -> None:
        async with gate:
            await _visits(client, organiser, exhibitor_id, exhibitor_id in new, visitors, rngs[exhibitor_id], counts)

    await asyncio.gather(*(visit(e) for e in visited))
    return {"exhibitors": len(ids), **counts, "ids": ids}
