"""Findings and pricebooks as text for people: the CLI prints these, the app shows the same words."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from rich.console import Group
from rich.table import Table
from rich.text import Text

from engine.money import format_money
from engine.pricebook.checks.context import percent_text
from engine.pricebook.checks.offers import last_day
from engine.pricebook.compile import PricebookTest
from engine.pricebook.findings import Finding, Severity
from engine.pricebook.model import CompiledPricebook
from engine.pricebook.validate import Report
from engine.vocabulary import PRODUCT_UNITS

STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def verdict(report: Report) -> str:
    if report.unreadable:
        return "cannot be read"
    errors, warnings = len(report.errors), len(report.warnings)
    infos = len(report.findings) - errors - warnings
    parts = [f"{errors} error{'s' * (errors != 1)}", f"{warnings} warning{'s' * (warnings != 1)}"]
    if infos:
        parts.append(f"{infos} note{'s' * (infos != 1)}")
    state = "OK" if report.ok else "NOT OK"
    return f"{state}: " + ", ".join(parts)


def finding_text(finding: Finding) -> Text:
    text = Text()
    text.append(f"{finding.location}", style="bold")
    text.append(f"  [{finding.code} {finding.severity.value}]", style=STYLES[finding.severity])
    if finding.rule_id:
        text.append(f"  rule {finding.rule_id}")
    if finding.display_value():
        text.append(f"  value {finding.display_value()}", style="dim")
    text.append(f"\n    {finding.message}")
    if finding.hint:
        text.append(f"\n    → {finding.hint}", style="green")
    return text


def report_renderable(report: Report) -> Group:
    header = Text()
    header.append(f"{report.path}", style="bold")
    header.append(f" — {verdict(report)}", style="bold red" if not report.ok else "bold green")
    if report.pricebook is not None:
        header.append(
            f"\n{report.pricebook.label}, effective {report.pricebook.effective_from_local():%Y-%m-%d %H:%M %Z}"
        )
    parts: list = [header]
    if report.findings:
        counts = Counter(f.code for f in report.findings)
        parts.append(Text("Findings by code: " + ", ".join(f"{c}×{n}" for c, n in sorted(counts.items())), style="dim"))
    parts.extend(finding_text(f) for f in report.findings)
    return Group(*parts)


def _credits(pb: CompiledPricebook, value: object) -> str:
    return pb.format_credits(Decimal(str(value)))


def _money(pb: CompiledPricebook, amount: Decimal) -> str:
    return format_money(amount, pb.meta.currency, pb.meta.money_per_credit)


def _validity(start: datetime, end: datetime | None, zone: ZoneInfo) -> str:
    """A promotion's days in the pricebook's zone, the last one included, as the workbook says."""
    first = _day(start.astimezone(zone).replace(tzinfo=None))
    if end is None:
        return f"{first} → open"
    last = last_day(end.astimezone(zone).replace(tzinfo=None))
    return f"{first} → {_day(last)}" if last is not None else first


def _day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}" if moment.time() == time(0, 0) else f"{moment:%Y-%m-%d %H:%M}"


def summary_renderables(report: Report) -> list:
    """What a pricing person wants to see of a pricebook at a glance."""
    pb = report.pricebook
    out: list = [report_renderable(report)]
    if pb is None:
        return out
    if pb.usage_tiers:
        out.append(_tiers_table(pb))
    if pb.packages:
        out.append(_packages_table(pb))
    if pb.bundles:
        for bundle in pb.bundles:
            out.append(
                Text(
                    f"Bundle {bundle.bundle_code}: {', '.join(bundle.components)} at "
                    f"{bundle.discount_pct:%} off ({bundle.applies_to})"
                )
            )
    if pb.lead_prices:
        out.append(_leads_table(pb))
    if pb.topup_promos:
        out.append(_promos_table(pb))
    limits = ", ".join(f"{o.segment} {_credits(pb, o.max_negative_credits)}" for o in pb.overdraft)
    out.append(Text(f"Overdraft limits: {limits}"))
    out.append(
        Text(f"Tests sheet: {len(report.tests)} worked example(s), each priced by the quote engine as expected.")
    )
    return out


def _tiers_table(pb: CompiledPricebook) -> Table:
    """The pay-as-you-go tiers, product by product."""
    table = Table(title="Pay-as-you-go tiers (graduated over the term)", title_justify="left")
    for column in ("rule", "product", "from", "up to (incl.)", "price per unit"):
        table.add_column(column)
    for product in sorted({t.product for t in pb.usage_tiers}):
        tiers = sorted(
            (t for t in pb.usage_tiers if t.product == product), key=lambda t: (t.up_to is None, t.up_to or 0)
        )
        lower = 0
        for tier in tiers:
            table.add_row(
                tier.rule_id,
                product,
                f"{lower + 1:,}",
                "∞" if tier.up_to is None else f"{tier.up_to:,}",
                _credits(pb, tier.unit_price_credits) + f" / {PRODUCT_UNITS[product]}",
            )
            lower = tier.up_to or lower
    return table


def _packages_table(pb: CompiledPricebook) -> Table:
    """The monthly packages."""
    table = Table(title="Monthly packages", title_justify="left")
    for column in ("code", "size", "product", "units", "rate", "package price", "days"):
        table.add_column(column)
    for package in sorted(pb.packages, key=lambda p: (p.product, p.included_units)):
        table.add_row(
            package.package_code,
            package.clinic_size,
            package.product,
            f"{package.included_units:,}",
            _credits(pb, package.unit_price_credits),
            _credits(pb, package.total_credits),
            str(package.period_days),
        )
    return table


def _leads_table(pb: CompiledPricebook) -> Table:
    """The first 40 lead prices, by channel, specialty, city and price range."""
    table = Table(title="Lead prices (most specific row wins)", title_justify="left")
    for column in ("rule", "channel", "specialty", "city", "treatment package price", "lead price"):
        table.add_column(column)
    for lead in sorted(pb.lead_prices, key=lambda x: (x.channel, x.specialty, x.city, x.pkg_price_from))[:40]:
        low = _money(pb, lead.pkg_price_from)
        high = lead.pkg_price_to
        prices = f"{low} and above" if high is None else f"{low} to under {_money(pb, high)}"
        table.add_row(
            lead.rule_id,
            lead.channel,
            lead.specialty,
            lead.city,
            prices,
            _credits(pb, lead.lead_price_credits),
        )
    return table


def _promos_table(pb: CompiledPricebook) -> Table:
    """The top-up promotions, dates in the pricebook's time zone."""
    table = Table(title=f"Top-up promotions (dates in {pb.meta.timezone})", title_justify="left")
    for column in ("rule", "code", "type", "paid", "bonus", "valid (last day included)"):
        table.add_column(column)
    zone = ZoneInfo(pb.meta.timezone)
    for promo in pb.topup_promos:
        if promo.bonus_pct is not None:
            cap = f", at most {_credits(pb, promo.bonus_cap_credits)}" if promo.bonus_cap_credits else ""
            bonus = f"{percent_text(promo.bonus_pct, pb.meta.currency)}{cap}"
        else:
            bonus = _credits(pb, promo.bonus_credits or 0)
        if promo.perk:
            bonus += f" + {promo.perk} {promo.perk_days} days"
        paid = _credits(pb, promo.paid_from)
        paid = f"{paid} and above" if promo.paid_to is None else f"{paid} to under {_credits(pb, promo.paid_to)}"
        table.add_row(
            promo.rule_id,
            promo.promo_code or "automatic",
            promo.promo_type,
            paid,
            bonus,
            _validity(promo.valid_from, promo.valid_to, zone),
        )
    return table


def test_line(test: PricebookTest) -> str:
    return f"{test.case_id}: {test.product} × {test.quantity} → expect {test.expected_credits:,} credits"
