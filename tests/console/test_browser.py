"""The console in a real headless Chromium: sign in, every page, drill-down, downloads, close, sign out.

Each page is screenshotted under ``test-artifacts/console/`` and checked non-blank; figures on the pages
are compared with the API's answers for the same period, to the cent.
"""

from __future__ import annotations

import csv
import io
import tomllib
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from attribution.reports.statement_html import money
from tests.console.seed import PRICE_LIST
from tests.support.console import Console, screenshot

PERIOD = "2026-11"


def _non_blank(path: Path) -> None:
    """More than a page background: many colours, and a fair share of pixels that are not white."""
    image = Image.open(path).convert("RGB")
    pixels = np.asarray(image.resize((image.width // 4, image.height // 4))).reshape(-1, 3)
    colours = len(np.unique(pixels, axis=0))
    inked = float((pixels.astype(int).sum(axis=1) < 600).mean())
    assert colours > 50, f"{path.name}: {colours} colours, looks blank"
    assert inked > 0.02, f"{path.name}: only {inked:.1%} of it is drawn"


def _sign_in(page: Any, console: Console, key: str) -> None:
    page.goto(console.url + "/")
    assert page.url.endswith("/console/login"), page.url
    page.fill("#key", console.keys[key])
    page.click("#sign-in")
    page.wait_for_url(console.url + "/console/")


def _api(console: Console, path: str, key: str = "admin", **params: str) -> Any:
    headers = {"Authorization": f"Bearer {console.keys[key]}"}
    found = httpx.get(console.url + path, params=params, headers=headers, timeout=30)
    assert found.status_code == 200, found.text
    return found


def _cells(page: Any, table: str, column: int) -> dict[str, str]:
    """First cell -> the cell in ``column`` of each body row of ``table``."""
    rows = page.locator(f"table#{table} tbody tr")
    out = {}
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        out[cells.nth(0).inner_text().strip()] = cells.nth(column).inner_text().strip()
    return out


def test_finance_signs_in_reads_every_page_downloads_closes_and_signs_out(
    console: Console, page: Any
) -> None:
    _sign_in(page, console, "finance")
    cookies = page.context.cookies()
    assert [c["name"] for c in cookies] == ["attribution_session"]
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert console.keys["finance"] not in cookies[0]["value"]
    assert console.keys["finance"][-20:] not in page.url
    assert page.evaluate("() => window.localStorage.length + window.sessionStorage.length") == 0

    page.goto(f"{console.url}/console/?period={PERIOD}")
    assert "PROVISIONAL" in page.inner_text("main")
    api = _api(console, "/v1/chargeback", "finance", period=PERIOD).json()
    shown = _cells(page, "tenants", 13)  # after 3 idle kinds, unmeasured, recovery
    assert shown == {t["tenant"]: money(t["total_cents"]) for t in api["tenants"]}
    # the chart's hover text is the table's figure
    hover = page.locator("#chart-tenants rect.bar title").all_text_contents()
    kv = _cells(page, "tenants", 5)
    assert f"acme-chat, KV cache in use: {kv['acme-chat']}" in hover
    assert "the bill for the period" in page.inner_text("#headline")
    _non_blank(screenshot(page, "01-overview"))

    page.click("nav >> text=Tenants")
    _non_blank(screenshot(page, "02-tenants"))
    page.click("table#tenants >> text=acme-chat")
    page.wait_for_url("**/console/tenants/acme-chat?period=*")
    days = _cells(page, "days", 13)
    assert len(days) == 30 and next(iter(days)) == "2026-11-01"
    total = page.inner_text("table#days tfoot td.total")
    assert total == money(sum(int(v.replace(",", "").replace(".", "")) for v in days.values()))
    assert total == money(next(t["total_cents"] for t in api["tenants"] if t["tenant"] == "acme-chat"))
    assert list(_cells(page, "tiers", 0)) == ["0-4k", "4k-32k"]
    _non_blank(screenshot(page, "03-tenant-acme-chat"))

    page.click("nav >> text=Context tiers")
    tiers = _api(console, "/v1/tiers", "finance", period=PERIOD).json()["tiers"]
    assert _cells(page, "tiers", 4) == {t["tier"]: money(t["total_cents"]) for t in tiers}
    assert list(_cells(page, "tiers", 0))[:4] == ["0-4k", "4k-32k", "32k-128k", "128k+"]
    priced = httpx.post(
        f"{console.url}/v1/pricing/tiers",
        params={"period": PERIOD},
        json=tomllib.loads(PRICE_LIST.read_text()),
        headers={"Authorization": f"Bearer {console.keys['finance']}"},
        timeout=30,
    ).json()
    margins = {t["key"][0]: money(t["margin_cents"]) for t in priced["tiers"]}
    assert {k: v for k, v in _cells(page, "pricing", 5).items() if k in margins} == margins
    _non_blank(screenshot(page, "04-tiers"))

    page.click("nav >> text=Pools")
    pools = _api(console, "/v1/pools", "finance", period=PERIOD).json()["pools"]
    assert _cells(page, "pools", 11) == {p["pool"]: money(p["cost_cents"]) for p in pools}
    _non_blank(screenshot(page, "05-pools"))

    page.click("nav >> text=Coverage")
    assert "720 of 720 intervals attributed" in page.inner_text("#coverage-state")
    assert "kv\tvllm\t2026-11-12 09:00\t2026-11-12 12:00\testimated" in page.inner_text("table#gaps")
    _non_blank(screenshot(page, "06-coverage"))

    page.click("nav >> text=Periods")
    _non_blank(screenshot(page, "07-periods"))
    with page.expect_download() as download:
        page.click(f"a[href='/console/periods/{PERIOD}/statement.html']")
    html = Path(download.value.path()).read_text()
    assert f"Chargeback statement {PERIOD}" in html
    with page.expect_download() as download:
        page.click(f"a[href='/console/periods/{PERIOD}/line-items.csv']")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sum(int(r["total_cents"]) for r in rows) == sum(t["total_cents"] for t in api["tenants"])

    page.click(f"a[href='/console/periods/{PERIOD}/close']")
    assert money(sum(t["total_cents"] for t in api["tenants"])) == page.inner_text("#close-total")
    _non_blank(screenshot(page, "08-close-confirmation"))
    page.fill("#confirm", PERIOD)
    page.click("#close-period")
    page.wait_for_url("**/console/periods?closed=*")
    assert f"Closed {PERIOD}" in page.inner_text("#closed-notice")
    issued = {p["period"]: p for p in _api(console, "/v1/periods", "finance").json()}[PERIOD]
    assert issued["status"] == "closed"
    assert issued["content_hash"][:16] in page.inner_text("table#periods")

    page.click("#sign-out")
    page.wait_for_url("**/console/login")
    assert page.context.cookies() == []
    page.goto(console.url + "/console/tenants")
    assert page.url.endswith("/console/login")


def test_a_tenant_key_sees_its_own_tenant_only(console: Console, page: Any) -> None:
    _sign_in(page, console, "acme")
    assert "acme-chat" in page.inner_text("h1")
    assert "globex-search" not in page.content()
    assert page.locator("nav >> text=Pools").count() == 0
    _non_blank(screenshot(page, "09-tenant-key-overview"))

    page.goto(f"{console.url}/console/tenants?period={PERIOD}")
    page.wait_for_url("**/console/tenants/acme-chat?period=*")
    for path in ("/console/tenants/globex-search", "/console/pools", "/console/tiers", "/console/coverage"):
        answer = page.goto(f"{console.url}{path}?period={PERIOD}")
        assert answer is not None and answer.status == 403, path
        assert page.locator("#error").count() == 1 and page.locator("table.data").count() == 0, path
    _non_blank(screenshot(page, "10-tenant-key-forbidden"))

    page.goto(console.url + "/console/periods")
    with page.expect_download() as download:
        page.click(f"a[href='/console/periods/{PERIOD}/focus.csv']")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows and {r["BillingAccountId"] for r in rows} == {"acme-chat"}
    assert page.locator("a.button >> text=Close").count() == 0


def test_docs_render_swagger_ui_with_no_network_but_the_server(console: Console, page: Any) -> None:
    """Every request to anything but the server is aborted: /docs must still draw the API's title."""
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(console.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(console.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "attribution" in page.inner_text(".swagger-ui .info .title")
    assert outside == []
    _non_blank(screenshot(page, "11-docs-offline"))
