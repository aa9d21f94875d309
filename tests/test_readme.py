"""The README's Python example is part of the public contract: it must run as written."""

from __future__ import annotations

import contextlib
import io
import os
import re

from tests.conftest import ROOT


def test_readme_python_examples_run() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    out = io.StringIO()
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        with contextlib.redirect_stdout(out):
            namespace: dict[str, object] = {}  # the blocks read as one session, top to bottom
            for block in blocks:
                exec(compile(block, "README.md", "exec"), namespace)
    finally:
        os.chdir(cwd)
    printed = out.getvalue()
    assert "us-audiology v1 (" in printed and "237,000 credits ($23.70)" in printed
    assert "1000 83 83,000 credits ($8.30)" in printed
    assert "in-clinic-leads v1" in printed
    assert "74700 ('PK-SOLO-SMS', 'BN-SMS-VOICE')" in printed
    assert "2000 ('IN-BONUS20',) ['featured_placement']" in printed
    assert "False declined: the balance would be -599,900 credits" in printed
    assert "credited 1,000,000 credits ($100.00)" in printed
    assert "50800 ('SMS-1', 'SMS-2') 949200" in printed
    assert "approved 250 11750" in printed and "500 250 2" in printed
    assert "['Pay-as-you-go + SMS/voice bundle', 'Pay-as-you-go + SMS/voice bundle'" in printed
