"""manage.py creditbook_publish WORKBOOK...: publish pricebook versions (refused when unchanged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from creditbook_django.management import LedgerCommand, aware, billing_call


class Command(LedgerCommand):
    help = "Publish pricebook workbooks as new immutable versions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workbooks", nargs="+", type=Path)
        parser.add_argument("--actor", default="manage.py")
        parser.add_argument("--at", type=aware, default=None, help="when it is published (default: now)")

    def run(self, workbooks: list[Path], actor: str, at: Any, **_: Any) -> None:
        publish = billing_call("publish_pricebook")
        for path in workbooks:
            if not path.is_file():
                self.stderr.write(f"{path}: no such file")
                raise SystemExit(2)
            done = publish(path, actor=actor, key=f"publish:{path.name}:{path.stat().st_size}", at=at)
            state = "already published" if done.replayed else "published"
            self.stdout.write(f"{done.pricebook_id} v{done.version} ({done.semantic_hash[:12]}) {state}")
