"""manage.py creditbook_openapi [-o FILE]: the API's OpenAPI 3.1 schema (what schema/ serves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Write the credits API's OpenAPI 3.1 schema (YAML) to standard output or a file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-o", "--output", type=Path, default=None)

    def handle(self, output: Path | None, **_: Any) -> None:
        from creditbook_django.schema import generate

        document = generate()
        if output is None:
            self.stdout.write(document.decode(), ending="")
        else:
            output.write_bytes(document)
