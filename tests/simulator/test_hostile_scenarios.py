"""Scenario files are hostile input: every class of bad value (structure, numbers, dates, text,
sizes, files) is refused with one bounded ScenarioError, within a time and memory limit per case.

Each class runs in its own process, with its address space limited (RLIMIT_AS: the imports plus
1 GB) and an alarm per case, and reports per case what happened, how long it took, and the
process's peak memory; the test requires a refusal for every case, no other exception, no case
over 2 seconds, and no class growing the process by more than 300 MB. `python -m
tests.simulator.test_hostile_scenarios` prints the figures per class.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ("structure", "numbers", "dates", "text", "sizes", "files")
CASE_SECONDS = 2.0
CLASS_MB = 300


def _text(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _bases() -> dict[str, dict[str, Any]]:
    from simulator import in_default, us_default

    return {"US": us_default().dump(), "IN": in_default().dump()}


def _with(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `data` with the dotted `path` set to `value`."""
    copy = json.loads(json.dumps(data))
    node = copy
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return copy


def _structure() -> Iterator[tuple[str, str | bytes]]:
    laughs = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    laughs += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    yield "alias bomb (10^9 nodes from 600 bytes)", "\n".join(laughs) + "\nname: *a9\n"
    yield "alias bomb inside a valid scenario", _text(_bases()["US"]) + "\n".join(laughs).replace("a", "x") + "\n"
    merges = ["m0: &m0 {k0: 1, k1: 2}"] + [
        f"m{i}: &m{i} [*m{i - 1}, *m{i - 1}, *m{i - 1}, *m{i - 1}]" for i in range(1, 14)
    ]
    yield "merge and alias fan-out", "\n".join(merges) + "\n"
    yield "recursive alias", "name: &a [*a]\n"
    yield "deep flow nesting", "name: " + "[" * 100_000 + "]" * 100_000
    yield "deep block nesting", "".join(" " * i + f"k{i}:\n" for i in range(300)) + " " * 300 + "x: 1\n"
    yield "file over the size limit", "# " + "x" * 300_000 + "\n" + _text(_bases()["US"])
    yield "key given twice", _text(_bases()["US"]) + "clinics: 5\n"
    yield "python object tag", "!!python/object/apply:os.system ['echo owned']\n"
    yield "binary tag", "name: !!binary aGVsbG8=\nmarket: US\n"
    yield "a list, not a mapping", "- market: US\n"
    yield "a scalar", "42\n"
    yield "empty", ""
    yield "only a comment", "# nothing\n"
    yield "invalid UTF-8", b"name: \xff\xfe\xfa\nmarket: US\n"
    yield "NUL byte", "name: a\x00b\nmarket: US\n"
    yield "unhashable key", "? [a, b]\n: c\n"
    yield "list key in sizes", _text(_bases()["US"]).replace("  solo:", "  ? [solo]\n  :", 1)
    yield "wrong type for a section", _text(_with(_bases()["US"], "us", [1, 2, 3]))
    yield "unknown field", _text({**_bases()["US"], "surprise": 1})
    yield (
        "twenty-one sizes",
        _text(_with(_bases()["US"], "sizes", {f"s{i}": _bases()["US"]["sizes"]["solo"] for i in range(21)})),
    )
    yield "5,000 cities", _text(_with(_bases()["IN"], "india.cities", {f"city{i}": 0.0002 for i in range(5000)}))
    yield "JSON nested 10,000 deep", '{"name": ' + "[" * 10_000 + "]" * 10_000 + "}"
    yield "JSON with NaN", json.dumps({**_bases()["US"], "monthly_variation": float("nan")})
    yield "unterminated string", 'name: "abc\nmarket: US\n'
    yield "tabs as indentation", "sizes:\n\tsolo: 1\n"


_NUMBERS: dict[str, list[Any]] = {
    "float": [float("nan"), float("inf"), float("-inf"), 1e400, -1.0, 1e308, "12abc", [], {}],
    "int": [float("nan"), float("inf"), -1, 10**30, 1.5, True, "12abc", 1e308],
    "decimal": ["NaN", "Infinity", "-Infinity", "-1", "1e400", "1e-30", "0x10", [1]],
}
_NUMERIC_FIELDS = {
    "US": [
        ("clinics", "int"),
        ("months", "int"),
        ("seed", "int"),
        ("monthly_variation", "float"),
        ("sizes.solo.share", "float"),
        ("sizes.solo.appointments_per_year.low", "float"),
        ("sizes.solo.appointments_per_year.high", "float"),
        ("sizes.solo.appointments_per_year.mode", "float"),
        ("sizes.large.clients_per_year.high", "float"),
        ("us.reminders_per_appointment.high", "float"),
        ("us.segments_per_message.mode", "float"),
        ("us.voicemail_minutes_per_appointment.low", "float"),
        ("topups.block_credits", "int"),
        ("costs.sms_segment", "decimal"),
        ("costs.voice_minute", "decimal"),
    ],
    "IN": [
        ("india.call_share", "float"),
        ("india.cities.Mumbai", "float"),
        ("india.specialties.dental.share", "float"),
        ("india.specialties.dental.leads_per_month.high", "float"),
        ("india.specialties.ivf.package_price_median", "float"),
        ("india.specialties.ivf.package_price_spread", "float"),
        ("costs.lead", "decimal"),
        ("topups.block_credits", "int"),
    ],
}


def _numbers() -> Iterator[tuple[str, str | bytes]]:
    bases = _bases()
    for market, fields in _NUMERIC_FIELDS.items():
        for path, kind in fields:
            for value in _NUMBERS[kind]:
                yield f"{market} {path} = {value!r}", _text(_with(bases[market], path, value))
        yield f"{market} JSON 1e999", json.dumps(bases[market]).replace('"seed": 2026', '"seed": 1e999')


def _dates() -> Iterator[tuple[str, str | bytes]]:
    base = _bases()["US"]
    for value in ("0001-01-01", "9999-12-31", "9999-12-01", "1969-12-31", "2198-01-01", "2026-02-30", "10000-01-01"):
        yield f"start {value}", _text(base).replace("start: '2026-01-01'", f"start: {value}")
    for value in (-1, 1e10, "", "yesterday", "2026-13-01", "2026-01-01T25:00:00", [2026, 1, 1]):
        yield f"start {value!r}", _text(_with(base, "start", value))
    yield "start at the last allowed month, 36 months", _text(_with(_with(base, "start", "2197-01-01"), "months", 37))


def _text_cases() -> Iterator[tuple[str, str | bytes]]:
    us, india = _bases()["US"], _bases()["IN"]
    bad = {
        "NUL": "a\x00b",
        "bell": "a\x07b",
        "escape sequence": "\x1b[31mred",
        "right-to-left override": "clinic\u202etxt.exe",
        "zero-width space": "clin\u200bic",
        "line separator": "a\u2028b",
        "lone surrogate": "\ud800",
        "private use": "\ue000",
        "10,000 characters": "x" * 10_000,
        "leading space": " solo",
        "not NFC": "cafe\u0301",
        "Cyrillic look-alike": "\u0455olo",  # "ѕolo"
        "empty": "",
    }
    for label, value in bad.items():
        yield f"name: {label}", json.dumps(_with(us, "name", value))
        sizes = dict(us["sizes"])
        sizes[value] = sizes.pop("solo")
        yield f"size name: {label}", json.dumps(_with(us, "sizes", sizes))
        cities = dict(india["india"]["cities"])
        cities[value] = cities.pop("Mumbai")
        yield f"city name: {label}", json.dumps(_with(india, "india.cities", cities))
        specialties = dict(india["india"]["specialties"])
        specialties[value] = specialties.pop("dental")
        yield f"specialty name: {label}", json.dumps(_with(india, "india.specialties", specialties))
        yield f"promotion code: {label}", json.dumps(_with(india, "topups.promo_code", value))
        yield f"pricebook path: {label}", json.dumps(_with(us, "pricebooks", [value]))
    cities = {**india["india"]["cities"], "mumbai": 0.1}
    yield "two cities that differ only in case", json.dumps(_with(india, "india.cities", cities))
    sizes = {**us["sizes"], "ＳＯＬＯ": us["sizes"]["solo"]}
    yield "full-width look-alike of a size", json.dumps(_with(us, "sizes", sizes))
    yield "market in lower case", _text(_with(us, "market", "us"))
    yield "plan unknown", _text(_with(us, "plan", "free"))
    yield "twenty-one pricebook versions", _text(_with(us, "pricebooks", ["pricebooks/us/us-audiology-v1.xlsx"] * 21))


def _sizes() -> Iterator[tuple[str, str | bytes]]:
    us, india = _bases()["US"], _bases()["IN"]
    yield "1,000,001 clinics", _text(_with(us, "clinics", 1_000_001))
    yield "0 clinics", _text(_with(us, "clinics", 0))
    yield "37 months", _text(_with(us, "months", 37))
    yield "0 months", _text(_with(us, "months", 0))
    yield (
        "a billion appointments a year",
        _text(_with(us, "sizes.large.appointments_per_year", {"low": 1e9, "high": 1e9})),
    )
    yield "a billion reminders each", _text(_with(us, "us.reminders_per_appointment", {"low": 1e9, "high": 1e9}))
    yield (
        "two million leads a month",
        _text(_with(india, "india.specialties.dental.leads_per_month", {"low": 1, "high": 2e6})),
    )
    yield "a trillion-credit top-up block", _text(_with(us, "topups.block_credits", 10**13))
    yield "a treatment of ₹1e9", _text(_with(india, "india.specialties.ivf.package_price_median", 1e9))
    heavy = _with(_with(india, "clinics", 1_000_000), "months", 36)
    for specialty in heavy["india"]["specialties"]:
        heavy["india"]["specialties"][specialty]["leads_per_month"] = {"low": 500, "high": 1000}
    yield "1,000,000 clinics × 36 months × 750 leads (over the work limit)", _text(heavy)
    yield (
        "1,000,000 clinics × 36 months under a 64 MB budget",
        _text(_with(_with(us, "clinics", 1_000_000), "months", 36)),
    )
    yield (
        "all shares zero",
        _text(_with(us, "sizes", {name: {**size, "share": 0} for name, size in us["sizes"].items()})),
    )
    yield "high below low", _text(_with(us, "us.segments_per_message", {"low": 3, "high": 1}))
    yield "mode outside the range", _text(_with(us, "us.segments_per_message", {"low": 1, "high": 2, "mode": 5}))


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    fifo = folder / "fifo.yaml"
    if not fifo.exists():
        os.mkfifo(fifo)
    big = folder / "big.yaml"
    big.write_bytes(b"# " + b"x" * 2_000_000)
    link = folder / "zero.yaml"
    if not link.exists():
        link.symlink_to("/dev/zero")
    yield "a FIFO nobody writes to", fifo
    yield "/dev/zero", Path("/dev/zero")
    yield "a symbolic link to /dev/zero", link
    yield "/dev/urandom", Path("/dev/urandom")
    yield "a folder", folder
    yield "a missing file", folder / "missing.yaml"
    yield "a 2 MB file", big
    yield "/proc/self/status", Path("/proc/self/status")  # a "regular" file of unknown size: read bounded


def cases(name: str, folder: Path) -> Iterator[tuple[str, Any]]:
    generators: dict[str, Callable[[], Iterator[tuple[str, Any]]]] = {
        "structure": _structure,
        "numbers": _numbers,
        "dates": _dates,
        "text": _text_cases,
        "sizes": _sizes,
        "files": lambda: _files(folder),
    }
    return generators[name]()


def worker(name: str, folder: str) -> None:
    """Run one class of cases in this process (memory limited, an alarm per case); print JSON."""
    import resource
    import signal

    from bench.common import memory_mb
    from simulator.montecarlo import load_pricebooks
    from simulator.scenario import MAX_ERROR_CHARS, Scenario, ScenarioError

    class Hang(Exception):
        pass

    def alarm(signum: int, frame: object) -> None:
        raise Hang

    assert load_pricebooks  # the simulator's imports (numpy, pandas, the engine) are done before the limit
    with open("/proc/self/status", encoding="ascii") as status:
        size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = size_kb * 1024 + 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, alarm)
    start_mb = memory_mb("VmRSS")
    report = []
    for label, case in cases(name, Path(folder)):
        started = time.perf_counter()
        outcome, message = "accepted", ""
        signal.alarm(10)
        try:
            scenario = Scenario.load(case) if isinstance(case, Path) else Scenario.from_text(case)
            scenario.check_budget(64 * 2**20 if "64 MB" in label else None)
        except ScenarioError as exc:
            outcome, message = "refused", str(exc)
            if len(message) > MAX_ERROR_CHARS:
                outcome = "unbounded message"
        except Hang:
            outcome = "hang"
        except BaseException as exc:
            outcome, message = f"crash {type(exc).__name__}", str(exc)[:300]
        finally:
            signal.alarm(0)
        report.append(
            {"case": label, "outcome": outcome, "message": message[:400], "seconds": time.perf_counter() - started}
        )
    print(json.dumps({"cases": report, "grew_mb": memory_mb("VmHWM") - start_mb}))


def run_class(name: str, folder: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.simulator.test_hostile_scenarios", name, str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", CLASSES)
def test_every_hostile_scenario_is_refused_with_one_bounded_error(name: str, tmp_path: Path) -> None:
    figures = run_class(name, tmp_path)
    cases = figures["cases"]
    assert len(cases) >= 8
    wrong = [(c["case"], c["outcome"], c["message"]) for c in cases if c["outcome"] != "refused"]
    assert not wrong, wrong
    slow = [(c["case"], round(c["seconds"], 2)) for c in cases if c["seconds"] > CASE_SECONDS]
    assert not slow, slow
    assert figures["grew_mb"] < CLASS_MB, figures["grew_mb"]
    for case in cases:  # messages name the problem, never repeat the input wholesale
        assert "\n" not in case["message"] or len(case["message"].splitlines()) <= 9
        assert "x" * 200 not in case["message"] and "lol, lol, lol" not in case["message"]


def test_the_alias_bomb_error_is_short() -> None:
    from simulator import Scenario, ScenarioError

    text = next(text for label, text in _structure() if label.startswith("alias bomb ("))
    with pytest.raises(ScenarioError, match="expands to more than") as refused:
        Scenario.from_text(text)
    assert len(str(refused.value)) < 200


def test_a_refusal_names_the_field() -> None:
    from simulator import Scenario, ScenarioError

    with pytest.raises(ScenarioError) as refused:
        Scenario.from_text(_text(_with(_bases()["US"], "us.reminders_per_appointment.high", float("nan"))))
    assert str(refused.value) == "us.reminders_per_appointment.high: Input should be a finite number"


def test_values_at_the_edges_of_the_bounds_are_accepted() -> None:
    from simulator import Scenario

    us = _bases()["US"]
    for path, value in (("clinics", 1_000_000), ("months", 36), ("seed", 2**63 - 1), ("start", "2197-01-01")):
        assert Scenario.from_text(_text(_with(us, path, value))).dump()[path] == value
    assert Scenario.from_text(json.dumps(_with(us, "name", "Clínica São Paulo — 東京"))).name.endswith("東京")


def test_months_no_pricebook_version_prices_are_refused_when_simulated() -> None:
    from simulator import ScenarioError, simulate, us_default

    with pytest.raises(ScenarioError, match="cannot price the scenario's months"):
        simulate(us_default(clinics=10, start="1990-01-01"))


def test_scenarios_at_the_bounds_simulate_exactly() -> None:
    """The largest usage the bounds allow, with the widest month-to-month variation, still prices
    in exact integers (no overflow, no float credits)."""
    from simulator import in_default, simulate, us_default

    us = _with(_with(_bases()["US"], "clinics", 300), "monthly_variation", 2)
    for size in us["sizes"].values():
        size["appointments_per_year"] = {"low": 1e6, "high": 1e6}
        size["clients_per_year"] = {"low": 1e6, "high": 1e6}
    us["us"]["reminders_per_appointment"] = {"low": 3, "high": 3}
    us["us"]["segments_per_message"] = {"low": 4, "high": 4}
    results = simulate(us_default(**us))
    assert results.chosen.cost.dtype == "int64" and results.credits()["billed"] > 10**11
    india = _with(_with(_bases()["IN"], "clinics", 20), "months", 2)
    for specialty in india["india"]["specialties"].values():
        specialty["leads_per_month"] = {"low": 50_000, "high": 100_000}
        specialty["package_price_median"] = 1e8
        specialty["package_price_spread"] = 3
    leads = simulate(in_default(**india))
    assert leads.units["leads"].sum() > 1_000_000 and leads.credits()["billed"] > 0


if __name__ == "__main__":
    if len(sys.argv) == 3:
        worker(sys.argv[1], sys.argv[2])
    else:  # the figures per class, for a report
        import tempfile

        for name in CLASSES:
            with tempfile.TemporaryDirectory() as folder:
                figures = run_class(name, Path(folder))
            outcomes = [c["outcome"] for c in figures["cases"]]
            slowest = max(figures["cases"], key=lambda c: c["seconds"])
            print(
                f"{name:10} {len(outcomes):4} inputs, refused {outcomes.count('refused')}, "
                f"crashes {sum(o.startswith('crash') for o in outcomes)}, hangs {outcomes.count('hang')}, "
                f"slowest {slowest['seconds']:.3f} s ({slowest['case']}), grew {figures['grew_mb']:.0f} MB"
            )
