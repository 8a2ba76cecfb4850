"""The HTML statement renders in a real browser (Debian's headless Chromium): its charts are drawn with
real geometry, the page is not blank, and it prints. Screenshots and the PDF are kept in test-artifacts/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from attribution.reports.statement_html import build_statement_html
from attribution.reports.svg import PALETTE
from tests.support.billing_history import History
from tests.support.services import missing_service

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHARTS = {"chart-tenants", "chart-pools", "chart-tiers", "chart-idle", "chart-memory"}
#: The test's own instrument, added to a copy of the page (the statement itself has no script): it
#: measures what the browser laid out for every chart and writes it into the DOM for --dump-dom.
MEASURE = """<script>
window.addEventListener('load', () => {
  const out = [];
  for (const svg of document.querySelectorAll('svg.chart')) {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll('rect.bar, circle.point')]
      .filter(e => { const b = e.getBBox(); return b.width > 0 && b.height > 0; }).length;
    out.push([svg.id, Math.round(box.width), Math.round(box.height), marks].join(':'));
  }
  const pre = document.createElement('pre');
  pre.id = 'geometry';
  pre.textContent = out.join(';');
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = shutil.which("chromium")
    if binary is None:  # pragma: no cover - where make test's install step did not run
        missing_service("chromium", "chromium is not installed; scripts/ensure-chromium.sh installs it")
    return binary


@pytest.fixture
def profile() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-") as folder:
        yield folder


def run_chromium(binary: str, profile: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def pages(history: History) -> dict[str, str]:
    ARTIFACTS.mkdir(exist_ok=True)
    out = {}
    with history.factory() as session:
        for period in ("2026-11", "2026-12"):
            out[period] = build_statement_html(session, history.settings, period)
            (ARTIFACTS / f"statement-{period}.html").write_text(out[period])
    return out


def test_the_statement_is_self_contained(pages: dict[str, str]) -> None:
    for document in pages.values():
        assert "<script" not in document.lower()
        # no external asset: the only URL is the SVG namespace
        assert set(re.findall(r"(?:src|href)=\"([^\"]*)\"", document)) == set()
        assert set(re.findall(r"https?://[^\"' )]+", document)) == {"http://www.w3.org/2000/svg"}
        assert "@media print" in document
        for chart in CHARTS:  # accessible: named by its title and description
            assert f'aria-labelledby="{chart}-title {chart}-desc"' in document
        assert 'class="legend"' in document and 'class="axis-label"' in document


@pytest.mark.parametrize("period", ["2026-11", "2026-12"])
def test_chromium_lays_out_every_chart(
    pages: dict[str, str], chromium: str, profile: str, period: str
) -> None:
    instrumented = ARTIFACTS / f"statement-{period}.measured.html"
    instrumented.write_text(pages[period].replace("</body>", MEASURE + "</body>"))
    dom = run_chromium(chromium, profile, "--dump-dom", instrumented.as_uri()).stdout
    match = re.search(r'<pre id="geometry">([^<]*)</pre>', dom)
    assert match, "the page did not load in Chromium"
    geometry = {
        name: (int(w), int(h), int(marks))
        for name, w, h, marks in (item.split(":") for item in match.group(1).split(";"))
    }
    assert set(geometry) == CHARTS
    for name, (width, height, marks) in geometry.items():
        assert width > 300 and height > 150, name
        assert marks >= 3, f"{name}: only {marks} bars or points drawn"


def test_a_screenshot_shows_the_page_and_its_charts(
    pages: dict[str, str], chromium: str, profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    page = ARTIFACTS / "statement-2026-12.html"
    shot = ARTIFACTS / "statement-2026-12.png"
    shot.unlink(missing_ok=True)
    run_chromium(chromium, profile, f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri())
    with capsys.disabled():
        print(f"\nscreenshot of the statement: {shot}")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 4000)
    counts = {colour: n for n, colour in image.getcolors(maxcolors=1 << 24) or []}
    ink = 1 - counts.get((255, 255, 255), 0) / (1280 * 4000)
    assert ink > 0.03, f"the page is nearly blank: {ink:.3%} of pixels are not white"
    for colour in PALETTE[:4]:  # the bars of the charts, in the palette's first colours
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert counts.get(rgb, 0) > 500, f"too few {colour} pixels: the charts did not render"


def test_the_statement_prints(
    pages: dict[str, str], chromium: str, profile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    page = ARTIFACTS / "statement-2026-11.html"
    pdf = ARTIFACTS / "statement-2026-11.pdf"
    pdf.unlink(missing_ok=True)
    run_chromium(chromium, profile, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    with capsys.disabled():
        print(f"\nthe statement printed to PDF: {pdf}")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 2  # A4 landscape: more than one page
