"""Overdraft, Disputes and Alerts: the policy sheets the rules engine is built from."""

from __future__ import annotations

from engine.pricebook.checks.context import CheckContext, valid
from engine.vocabulary import AlertKind, DisputeMode, DisputeReason, Segment


def check_overdraft(ctx: CheckContext) -> None:
    rows = ctx.sheet("Overdraft")
    segments = {row.get("segment"): row for row in rows if valid(row.get("segment"))}
    for segment in ctx.domains["segment"].values:
        if segment not in segments:
            ctx.error(
                "T09",
                None,
                "",
                f"The Overdraft sheet has no row for the {segment} segment, so its limit is unknown.",
                f"Add a row for {segment} (0 = no overdraft).",
                sheet="Overdraft",
            )
    for row in rows:
        limit = row.get("max_negative_credits")
        if row.get("segment") != Segment.PREFERRED and valid(limit) and limit > 0:
            ctx.error(
                "P04",
                row,
                "max_negative_credits",
                f"The {row.get('segment')} segment may go "
                f"{ctx.credits(limit)} below zero; only preferred clinics may overdraw.",
                "Type 0, or move the clinics concerned to the preferred segment.",
            )


def check_disputes(ctx: CheckContext) -> None:
    products = ctx.product_rows()
    for row in ctx.sheet("Disputes"):
        listed = row.get("products")
        for product in listed if valid(listed) else ():
            if product not in products:
                ctx.error(
                    "X01",
                    row,
                    "products",
                    f"{product} can be disputed here but is not on the Products sheet.",
                    f"Add {product} to Products or remove it here.",
                )
        decision = row.get("decision")
        if decision == DisputeMode.AUTO_APPROVE_DUPLICATE:
            if row.get("reason") not in (DisputeReason.DUPLICATE, None) and valid(row.get("reason")):
                ctx.error(
                    "X01",
                    row,
                    "decision",
                    "Only duplicate disputes can be approved automatically as duplicates.",
                    "Pick review for this reason.",
                )
            if row.ok("duplicate_window_days") and not valid(row.get("duplicate_window_days")):
                ctx.error(
                    "C01",
                    row,
                    "duplicate_window_days",
                    "Automatic duplicate approval needs "
                    "duplicate_window_days: how close two charges for the same patient must be.",
                    "Type a number of days, e.g. 30.",
                )
        elif valid(row.get("duplicate_window_days")):
            ctx.warn(
                "X01",
                row,
                "duplicate_window_days",
                "duplicate_window_days only applies to auto_approve_duplicate; it is ignored.",
                "Clear it.",
            )


def check_alerts(ctx: CheckContext) -> None:
    alerts = {row.get("alert") for row in ctx.sheet("Alerts")}
    if AlertKind.LOW_BALANCE_CREDITS not in alerts:
        ctx.error(
            "T09",
            None,
            "",
            "The Alerts sheet has no low_balance_credits row, so clinics are never warned before they run out.",
            "Add a low_balance_credits row with the threshold in credits.",
            sheet="Alerts",
        )
