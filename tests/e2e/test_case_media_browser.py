"""A case with photos and a pin in chromium: thumbnails decode, the SVG map shows the pin, no outside requests."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from storage.lifecycle import CaseStatus
from tests.backoffice.conftest import build_app, make_city
from tests.support.browser import log_in
from tests.support.builders import attach, make_case
from tests.support.images import SECRET, exif_jpeg, png
from tests.support.server import serving

pytestmark = pytest.mark.browser


async def webp_with_exif(browser) -> bytes:  # noqa: ANN001
    """Encode a 36×24 WebP in chromium and wrap it in an extended container with an EXIF chunk (the secret)."""
    page = await browser.new_page()
    url = await page.evaluate("""() => { const c = document.createElement('canvas'); c.width = 36; c.height = 24;
        const g = c.getContext('2d'); g.fillStyle = '#276749'; g.fillRect(0, 0, 36, 24);
        return c.toDataURL('image/webp', 0.8); }""")
    await page.close()
    plain = base64.b64decode(url.split(",", 1)[1])
    assert plain[:4] == b"RIFF" and plain[12:16] in (b"VP8 ", b"VP8L", b"VP8X"), plain[:16]
    chunks = plain[12:]
    if chunks[:4] == b"VP8X":  # already extended (chromium adds ALPH): set its EXIF flag
        chunks = chunks[:8] + bytes([chunks[8] | 0x08]) + chunks[9:]
    else:
        chunks = b"VP8X" + struct.pack("<I", 10) + bytes([0x08, 0, 0, 0]) + (35).to_bytes(3, "little") \
            + (23).to_bytes(3, "little") + chunks
    exif = b"II*\x00" + struct.pack("<I", 8) + b"\x00\x00\x00\x00\x00\x00" + SECRET.encode()
    exif += b"\x00" * (len(exif) & 1)
    chunks += b"EXIF" + struct.pack("<I", len(exif)) + exif
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


async def test_photos_load_and_the_map_shows_the_pin(database_url: str, browser, artefacts: Path,  # noqa: ANN001
                                                    tmp_path: Path) -> None:
    city = await make_city()
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, title="西山区翠微路井盖缺失",
                           text="翠微路12号门口井盖丢了，晚上有人差点掉下去。", district="西山区",
                           street="西山街道", latitude=28.2512, longitude=112.8734)
    uploads = tmp_path / "data" / "uploads"
    photos = [await attach(case, exif_jpeg(), "井盖.jpg", uploads), await attach(case, png(), "现场.png", uploads),
              await attach(case, await webp_with_exif(browser), "远景.webp", uploads)]
    async with serving(build_app(database_url, data_dir=tmp_path / "data")) as base:
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = await context.new_page()
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        await log_in(page, base, "handler")
        await page.goto(f"{base}/cases/{case.id}")
        thumbs = page.locator(".media .photos img")
        assert await thumbs.count() == 3
        for i in range(3):
            await thumbs.nth(i).scroll_into_view_if_needed()
            await page.wait_for_function("img => img.complete", arg=await thumbs.nth(i).element_handle())
            width = await thumbs.nth(i).evaluate("img => img.naturalWidth")
            assert width > 0, photos[i].filename
        assert await thumbs.nth(0).evaluate("img => img.naturalWidth") == 32  # 48×32 taken on its side (EXIF 6): turned
        assert await thumbs.nth(1).evaluate("img => img.naturalWidth") == 40
        assert await thumbs.nth(2).evaluate("img => img.naturalWidth") == 36
        svg = page.locator("svg.case-map")
        pin = svg.locator("g.pin")
        assert await pin.count() == 1 and await pin.is_visible()
        here = svg.locator('path.district.here[data-district="西山区"]')
        assert await here.count() == 1
        inside = await page.evaluate(
            """() => { const pin = document.querySelector('svg.case-map g.pin').getBoundingClientRect();
                       const area = document.querySelector('svg.case-map path.here').getBoundingClientRect();
                       const x = pin.left + pin.width / 2, y = pin.bottom;
                       return x >= area.left && x <= area.right && y >= area.top && y <= area.bottom; }""")
        assert inside
        link = page.locator("a.external")
        assert "112.873,28.251" in (await link.get_attribute("href") or "")
        await page.locator(".media").screenshot(path=str(artefacts / "case-media.png"))
        await page.screenshot(path=str(artefacts / "case-page-with-media.png"), full_page=True)
        assert all(url.startswith(base) for url in requested), [u for u in requested if not u.startswith(base)]
        full = await context.new_page()
        await full.goto(f"{base}/cases/{case.id}/photos/{photos[1].id}")
        assert await full.evaluate("document.images.length && document.images[0].naturalWidth") == 40
        for row in photos:  # what the browser was given carries none of the photos' hidden metadata
            response = await context.request.get(f"{base}/cases/{case.id}/photos/{row.id}")
            assert response.ok and SECRET.encode() not in await response.body()
        await context.close()
