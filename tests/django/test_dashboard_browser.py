"""The clinic dashboard in a real headless Chromium (Debian's, through Playwright) against the
reference project under gunicorn: a clinic logs in, reads its header figures (checked against
Billing.balance), claims a promotion, previews and pays a top-up with the fake gateway, disputes a
lead from its row and exports the ledger; another clinic cannot reach the first one's pages or data.
Every page is screenshotted at 1280 px and 390 px (into test-output/), and no
page is wider than the phone's screen."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.money import format_credit_count
from reference.serving import environment, gunicorn, manage
from tests.support.browser import launched
from tests.support.reference_project import prepare

pytestmark = pytest.mark.slow
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The reference project with a US and an Indian clinic, their users (demo_api: password demo)
    and the demo leads with contacts; yields (base URL, ledger URL)."""
    folder = tmp_path_factory.mktemp("dashboard")
    env = environment(folder)
    prepare(
        env,
        "b.purchase('riverside', 1000000, payment_method='card_ok', key='f'); "
        "b.purchase('smile', 10000, payment_method='upi_ok', key='f'); "
        "b.adjust('smile', 5, actor='support', reason='=HYPERLINK(\"http://x.example\")', key='csv')",
    )
    manage(env, "demo_api")  # users named after the clinics, and the demo leads with contacts
    with gunicorn(env, workers=2, ready="/dashboard/login/") as base:
        yield base, env["CREDITBOOK_DATABASE_URL"]


@pytest.fixture(scope="module")
def billing(served: tuple[str, str]) -> Iterator[Any]:
    from engine import Billing

    opened = Billing(served[1], migrate=False)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def browser(served: tuple[str, str]) -> Iterator[Any]:
    with launched() as opened:
        yield opened


def _shoot(page: Any, name: str, folder: Path) -> None:
    """The page at each width, whole; it must not be wider than the screen."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= width, f"{name} is {wide} px wide at {width} px"
        path = folder / f"dashboard-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _login(page: Any, base: str, user: str) -> None:
    page.goto(f"{base}/dashboard/login/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "demo")
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/dashboard/{user}/")


def test_a_clinic_uses_its_dashboard_in_a_real_browser(
    served: tuple[str, str], billing: Any, browser: Any, output_dir: Path
) -> None:
    base, _ = served
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{base}/dashboard/smile/")
    assert "/dashboard/login/" in page.url
    _shoot(page, "login", output_dir)
    _login(page, base, "smile")

    view = billing.balance("smile")
    assert page.inner_text("[data-testid=header-credits]") == format_credit_count(view.balance, "INR")
    assert page.inner_text("[data-testid=header-money]").startswith("₹")
    assert "Leads this month: 3" in page.inner_text("[data-testid=leads-line]")
    assert page.locator("tr:has-text('Priya Sharma')").count() == 1
    assert "98201" not in page.inner_text("[data-testid=recent]")
    _shoot(page, "home-in", output_dir)

    # claim a promotion: the top-up form arrives filled in, the preview shows the bonus, paying adds it
    page.click("[data-testid=promotion]:has-text('EXTRA2K') [data-testid=claim]")
    assert page.input_value("input[name=promo_code]") == "EXTRA2K"
    page.select_option("select[name=payment_method]", "upi_ok")
    _shoot(page, "topup", output_dir)
    page.click("button:has-text('Preview')")
    quote = billing.quote_topup("smile", int(page.input_value("input[name=credits]")), promo_code="EXTRA2K")
    assert format_credit_count(quote.bonus_credits, "INR") in page.inner_text("[data-testid=preview-bonus]")
    _shoot(page, "preview", output_dir)
    before = billing.balance("smile").balance
    page.click("[data-testid=confirm-pay]")
    page.wait_for_url(f"{base}/dashboard/smile/")
    after = billing.balance("smile").balance
    assert after - before == quote.paid_credits + quote.bonus_credits
    assert page.inner_text("[data-testid=header-credits]") == format_credit_count(after, "INR")

    # dispute a lead from its own row: only its product's reasons are offered
    row = page.locator("tr:has-text('Rahul Verma')")
    row.locator("summary:has-text('Dispute')").click()
    offered = row.locator("select[name=reason] option").evaluate_all("os => os.map(o => o.value)")
    book = billing.pricebook_in_force("IN")
    assert sorted(offered) == sorted({str(r.reason) for r in book.disputes if "lead_call" in r.products})
    _shoot(page, "dispute", output_dir)
    row.locator("select[name=reason]").select_option("not_reachable")
    row.locator("button:has-text('Send dispute')").click()
    page.wait_for_url(f"{base}/dashboard/smile/#recent")
    assert "Dispute on charge" in page.inner_text(".messages")
    assert any(d.reason == "not_reachable" for d in billing.disputes(status=None, clinic_id="smile"))

    # the ledger, filtered, and its CSV export (escaped)
    page.click("nav a:has-text('Ledger')")
    page.select_option("select[name=kind]", "adjustment")
    page.click("button:has-text('Filter')")
    assert page.locator("td.kind").all_inner_texts() == ["adjustment"]
    _shoot(page, "ledger", output_dir)
    with page.expect_download() as download:
        page.click("[data-testid=export-csv]")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["reason"] for r in rows] == ['\'=HYPERLINK("http://x.example")']

    page.click("nav a:has-text('Alerts')")
    page.fill("input[name=target]", "frontdesk@smile.example")
    page.click("button:has-text('Add')")
    assert page.locator("[data-testid=endpoint]").count() == 1
    _shoot(page, "alerts", output_dir)

    # another clinic: its own dashboard, and nothing of smile's by URL
    page.click("button:has-text('Log out')")
    _login(page, base, "riverside")
    assert "SMS segments" in page.inner_text("[data-testid=remaining]")
    assert page.inner_text("[data-testid=header-money]").startswith("$")
    _shoot(page, "home-us", output_dir)
    for path in ("", "ledger/", "ledger.csv", "topup/", "alerts/"):
        answer = page.request.get(f"{base}/dashboard/smile/{path}")
        assert answer.status == 404, path
        assert "Smile" not in answer.text() and "Priya" not in answer.text()
    context.close()
