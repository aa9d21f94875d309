"""Checks across sheets: unique rule ids and keys, the Tests sheet's references, unused list values."""

from __future__ import annotations

from engine.pricebook.checks.context import CheckContext, valid
from engine.pricebook.conditions import split_values
from engine.pricebook.excel_tables import Row
from engine.pricebook.schema import SHEET_BY_NAME
from engine.vocabulary import LEAD_CHANNEL_OF_PRODUCT, Plan


def check_unique(ctx: CheckContext) -> None:
    """rule_id (and case_id) unique in the whole workbook; natural keys unique per sheet."""
    seen: dict[str, Row] = {}
    for sheet, rows in ctx.rows.items():
        spec = SHEET_BY_NAME[sheet]
        id_column = "case_id" if sheet == "Tests" else "rule_id"
        keys: dict[tuple[object, ...], Row] = {}
        for row in rows:
            rule_id = row.get(id_column)
            if valid(rule_id):
                folded = rule_id.casefold()
                if folded in seen:
                    first = seen[folded]
                    ctx.error(
                        "T01",
                        row,
                        id_column,
                        f"The id {rule_id} is already used in {first.sheet} row {first.row}.",
                        "Every row needs its own id: ledger entries and diffs point to it.",
                    )
                else:
                    seen[folded] = row
            if spec.key and row.ok(*spec.key) and all(row.get(k) is not None for k in spec.key):
                key = tuple(row.get(k) for k in spec.key)
                if key in keys:
                    first = keys[key]
                    what = ", ".join(f"{k} {row.get(k)}" for k in spec.key)
                    ctx.error(
                        "T01",
                        row,
                        spec.key[0],
                        f"Another row ({first.row}, {first.rule_id}) already has {what}.",
                        "Keep one row per " + " and ".join(spec.key) + ".",
                    )
                else:
                    keys[key] = row


def check_tests_sheet(ctx: CheckContext, rule_ids: set[str]) -> None:
    """Every example names things that exist; its fields fit its product."""
    products = ctx.product_rows()
    packages: dict[str, set[str]] = {}
    for row in ctx.sheet("Packages"):
        if valid(row.get("package_code")) and valid(row.get("product")):
            packages.setdefault(row.get("package_code"), set()).add(row.get("product"))
    folded_ids = {r.casefold(): r for r in rule_ids}
    for row in ctx.sheet("Tests"):
        product = row.get("product")
        if valid(product) and product not in products:
            ctx.error(
                "X01",
                row,
                "product",
                f"The example prices {product}, which is not on the Products sheet.",
                "Pick a product from Products.",
            )
        _check_example_plan(ctx, row, product, packages)
        _check_example_fields(ctx, row, product)
        expected = row.get("expected_rule_ids")
        if valid(expected):
            for rule_id in split_values(expected):
                if rule_id and rule_id.casefold() not in folded_ids:
                    ctx.error(
                        "X03",
                        row,
                        "expected_rule_ids",
                        f"The example expects rule {rule_id}, which no row of the workbook has.",
                        "Check the spelling against the rule_id columns.",
                        rule_id,
                    )


def _check_example_plan(ctx: CheckContext, row: Row, product: object, packages: dict[str, set[str]]) -> None:
    """An example's plan is PAYG or a package that covers its product."""
    plan = row.get("plan")
    if not (valid(plan) and plan != Plan.PAYG and valid(product)):
        return
    if plan not in packages:
        ctx.error(
            "X01",
            row,
            "plan",
            f"{plan} is not a package code.",
            "Type PAYG or a package_code from the Packages sheet.",
        )
    elif product not in packages[plan]:
        ctx.error(
            "X01",
            row,
            "plan",
            f"The package {plan} does not cover {product}.",
            f"It covers {', '.join(sorted(packages[plan]))}.",
        )


def _check_example_fields(ctx: CheckContext, row: Row, product: object) -> None:
    """An example fills the fields of its product (a lead needs its package price) and no others."""
    if valid(row.get("message_text")) and product != "sms":
        ctx.warn("X01", row, "message_text", "message_text only applies to sms; it is ignored.", "Clear it.")
    if valid(row.get("call_seconds")) and product != "voice":
        ctx.warn("X01", row, "call_seconds", "call_seconds only applies to voice; it is ignored.", "Clear it.")
    is_lead = product in LEAD_CHANNEL_OF_PRODUCT
    for column in ("specialty", "city", "package_price"):
        if valid(row.get(column)) and not is_lead:
            ctx.warn("X01", row, column, f"{column} only applies to leads; it is ignored.", "Clear it.")
    if is_lead and not valid(row.get("package_price")) and row.ok("package_price"):
        ctx.error(
            "C01",
            row,
            "package_price",
            "A lead example needs the treatment package price.",
            "Type the package price in currency, e.g. 15000.",
        )


def check_unused_lists(ctx: CheckContext) -> None:
    """Clinic sizes and perks that no row uses (information only)."""
    used = {
        "clinic_size": {row.get("clinic_size") for row in ctx.sheet("Packages")},
        "perk": {row.get("perk") for row in ctx.sheet("TopUpPromos")},
    }
    for name, values in used.items():
        for value in ctx.domains[name].values:
            if value not in values:
                ctx.info(
                    "X04",
                    None,
                    name,
                    f"The {name} {value!r} on the Lists sheet is not used by any row.",
                    "Fine if intended; otherwise remove it from Lists.",
                    value,
                    sheet="Lists",
                )
