"""Findings and pricebooks as text for people: the CLI prints these, the app shows the same words."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta

from rich.console import Group
from rich.table import Table
from rich.text import Text

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
    from decimal import Decimal

    return pb.format_credits(Decimal(str(value)))


def _last_day(end: datetime) -> str:
    """An offer's exclusive end as the workbook states it: midnight → the day before, inclusive."""
    if end.time() == time(0, 0):
        return f"{end - timedelta(days=1):%Y-%m-%d}"
    return f"{end:%Y-%m-%d %H:%M}"


def summary_renderables(report: Report) -> list:
    """What a pricing person wants to see of a pricebook at a glance."""
    pb = report.pricebook
    out: list = [report_renderable(report)]
    if pb is None:
        return out
    if pb.usage_tiers:
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
        out.append(table)
    if pb.packages:
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
        out.append(table)
    if pb.bundles:
        for bundle in pb.bundles:
            out.append(
                Text(
                    f"Bundle {bundle.bundle_code}: {', '.join(bundle.components)} at "
                    f"{bundle.discount_pct:%} off ({bundle.applies_to})"
                )
            )
    if pb.lead_prices:
        table = Table(title="Lead prices (most specific row wins)", title_justify="left")
        for column in ("rule", "channel", "specialty", "city", "package price", "lead price"):
            table.add_column(column)
        for lead in sorted(pb.lead_prices, key=lambda x: (x.channel, x.specialty, x.city, x.pkg_price_from))[:40]:
            upper = "∞" if lead.pkg_price_to is None else f"{lead.pkg_price_to:,}"
            table.add_row(
                lead.rule_id,
                lead.channel,
                lead.specialty,
                lead.city,
                f"[{lead.pkg_price_from:,} – {upper})",
                _credits(pb, lead.lead_price_credits),
            )
        out.append(table)
    if pb.topup_promos:
        table = Table(title="Top-up promotions", title_justify="left")
        for column in ("rule", "code", "type", "paid", "bonus", "valid"):
            table.add_column(column)
        zone = pb.effective_from_local().tzinfo
        for promo in pb.topup_promos:
            bonus = (
                f"{promo.bonus_pct:%}" + (f" (max {promo.bonus_cap_credits:,})" if promo.bonus_cap_credits else "")
                if promo.bonus_pct is not None
                else f"{promo.bonus_credits:,} credits"
            )
            if promo.perk:
                bonus += f" + {promo.perk} {promo.perk_days} days"
            paid = f"{promo.paid_from:,}" + (f" – {promo.paid_to:,}" if promo.paid_to else "+")
            until = "open" if promo.valid_to is None else _last_day(promo.valid_to.astimezone(zone))
            table.add_row(
                promo.rule_id,
                promo.promo_code or "(automatic)",
                promo.promo_type,
                paid,
                bonus,
                f"{promo.valid_from.astimezone(zone):%Y-%m-%d} → {until}",
            )
        out.append(table)
    limits = ", ".join(f"{o.segment} {_credits(pb, o.max_negative_credits)}" for o in pb.overdraft)
    out.append(Text(f"Overdraft limits: {limits}"))
    out.append(
        Text(f"Tests sheet: {len(report.tests)} worked example(s), each priced by the quote engine as expected.")
    )
    return out


def test_line(test: PricebookTest) -> str:
    return f"{test.case_id}: {test.product} × {test.quantity} → expect {test.expected_credits:,} credits"
