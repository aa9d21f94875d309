"""`python -m bench api`: the credits API through gunicorn (2 workers, sync) on 127.0.0.1, driven by
wrk: requests per second and p50/p99 latency of `GET balance/` (an API key bound to one clinic)
and `POST charges/leads/` (a server-to-server key, a new Idempotency-Key per request) beside a bare
Django view returning a constant JSON body through the same middleware in the same run.

The ledger is a SQLite file on this machine's disk (synchronous=FULL: every charge waits for its
fsync), the Django database another; 200 Indian clinics are funded so that charges spread over
wallets. Goal: balance at >= 50% of the bare view's requests per second.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from reference.serving import environment, gunicorn, manage

SECONDS = 10
CONNECTIONS = 8
CLINICS = 200
CHARGE_SCRIPT = """
local counter = 0
local thread_id = 0
setup = function(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
request = function()
  counter = counter + 1
  local clinic = "bench-" .. ((counter * 7 + tid) %% %(clinics)d)
  local body = '{"practice_id": "' .. clinic .. '", "product": "lead_chat", "package_price": "2500"}'
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(key)s",
                   ["Idempotency-Key"] = "bench-" .. tid .. "-" .. counter .. "-" .. os.time()}
  return wrk.format("POST", "/api/credits/charges/leads/", headers, body)
end
"""


def _ledger(folder: Path) -> str:
    from engine import Billing

    url = f"sqlite:///{folder / 'ledger.db'}"
    billing = Billing(url)
    published = datetime(2025, 6, 1, tzinfo=UTC)
    root = Path(__file__).resolve().parent.parent / "pricebooks"
    for path in (root / "in" / "in-clinic-leads-v1.xlsx", root / "in" / "in-clinic-leads-v2.xlsx"):
        billing.publish_pricebook(path, actor="bench", key=path.name, at=published)
    for n in range(CLINICS):
        billing.register_clinic(f"bench-{n}", f"Bench Clinic {n}", "IN", key="register")
        billing.purchase(f"bench-{n}", 1_000_000, payment_method="upi_ok", key="fund")
    billing.close()
    return url


def _wrk(base: str, path: str, headers: dict[str, str], script: Path | None = None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run([*command, base + path], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _percentile(out, 50),
        "p99": _percentile(out, 99),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def _percentile(out: str, percent: int) -> float:
    """A line of wrk's latency distribution, anchored at its start: a stdev column ending in "50%"
    ("62.50%") must not be read as the 50th percentile."""
    found = re.search(rf"^\s*{percent}%\s+(\S+)$", out, flags=re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no {percent}% line in wrk's output:\n{out}")
    return _ms(found.group(1))


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run() -> None:
    print("== api: the credits API through gunicorn (2 workers) and wrk, beside a bare Django view ==")
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk): skipped")
        return
    folder = Path(tempfile.mkdtemp(prefix="creditbook-bench-api-"))
    try:
        env = environment(folder, _ledger(folder))
        manage(env, "migrate", "--verbosity", "0")
        reader = manage(env, "creditbook_api_key", "bench-dashboard", "--clinic", "bench-0").strip()
        charger = manage(env, "creditbook_api_key", "bench-marketplace", "--charge").strip()
        script = folder / "charge.lua"
        script.write_text(CHARGE_SCRIPT % {"clinics": CLINICS, "key": charger})
        with gunicorn(env, workers=2, app="bench.api_wsgi") as base:
            _wrk(base, "/bare/", {})  # warm both workers (imports, the ledger's first connections)
            _wrk(base, "/api/credits/balance/", {"Authorization": f"Bearer {reader}"})
            bare = _wrk(base, "/bare/", {})
            balance = _wrk(base, "/api/credits/balance/", {"Authorization": f"Bearer {reader}"})
            charge = _wrk(base, "/api/credits/charges/leads/", {}, script)
        print(f"{'':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
        for label, row in (
            ("bare Django view (baseline)", bare),
            ("GET balance/", balance),
            ("POST charges/leads/", charge),
        ):
            print(f"{label:28} {row['rps']:9.0f} {row['p50']:8.1f} {row['p99']:8.1f} {row['errors']:8.0f}")
        share = balance["rps"] / bare["rps"]
        print(f"balance at {share:.0%} of the bare view (goal >= 50%); {SECONDS} s per row, {CONNECTIONS} connections")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
