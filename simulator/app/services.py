"""What the pages share: the ledger, the shipped pricebooks, bounded caches of simulations, uploads
(size-capped, parsed from a temporary folder removed right after), idempotency keys for forms,
refusals in words, and the error boundary that keeps tracebacks in the log. No business logic:
everything here calls engine.billing, engine.pricebook or simulator.

Imports are lazy where they are heavy: the simulator page (the first one) never loads the ledger
(engine.billing, SQLAlchemy, Alembic), and a page that does not validate never loads the validator.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import streamlit as st

from simulator.app.labels import refusal

if TYPE_CHECKING:
    from engine.billing import Billing
    from engine.pricebook.findings import Finding
    from engine.pricebook.model import CompiledPricebook
    from engine.pricebook.validate import Report
    from simulator import Comparison, Results, Scenario

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {
    "US": sorted((ROOT / "pricebooks" / "us").glob("*.xlsx")),
    "IN": sorted((ROOT / "pricebooks" / "in").glob("*.xlsx")),
}
MAX_UPLOAD_MB = 10  # also `server.maxUploadSize` in .streamlit/config.toml: the server refuses larger bodies
MAX_SCENARIO_BYTES = 256 * 1024
# Simulations kept for reruns, in clinic-months: a 10,000-clinic year (120,000) holds 25–50 MB, so about
# five default scenarios, or one of 50,000 clinics (the latest is always kept, whatever its size).
SIMULATED_CLINIC_MONTHS = 600_000
log = logging.getLogger("creditbook.app")


@st.cache_resource(show_spinner=False)
def _billing(url: str | None) -> Billing:
    from engine.billing import Billing

    return Billing(url)


def billing() -> Billing:
    """The ledger the wallet and admin pages work on (CREDITBOOK_DATABASE_URL, else creditbook.db);
    one Billing per URL, so a changed environment (the tests') gets its own."""
    return _billing(os.environ.get("CREDITBOOK_DATABASE_URL"))


@st.cache_resource(show_spinner=False)
def shipped(path: str) -> CompiledPricebook:
    from engine.loader import load_pricebook

    return load_pricebook(path)


def shipped_label(path: str) -> str:
    """'in-clinic-leads v2': the pricebook and its version, not its file path (short enough for a chip;
    the page's caption gives each version's hash)."""
    pricebook = shipped(str(ROOT / path) if not Path(path).is_absolute() else path)
    return f"{pricebook.pricebook_id} v{pricebook.version}"


# -- simulations: bounded, shared across sessions (a result is read, never changed) -------------------------

Progress = Callable[[str, float], None]


class Recent(Generic[T]):
    """The most recently used results, shared by every session of the process, up to `budget`
    (counted by `weight`, one per entry by default); the latest entry is always kept.

    Not st.cache_resource: a simulation reports progress to the page while it runs, which
    Streamlit's caches refuse (they replay the elements a cached call draws). After an eviction the
    C heap is trimmed: glibc keeps the pages pandas and numpy freed, and measured over 20 reruns of
    30,000-clinic scenarios that alone grew the process by 150 MB."""

    def __init__(self, budget: int, weight: Callable[[T], int] = lambda _: 1) -> None:
        self.budget = budget
        self.weight = weight
        self._items: OrderedDict[Hashable, tuple[T, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = make()  # outside the lock: other sessions keep reading while this one computes
        with self._lock:
            self._items[key] = (value, self.weight(value))
            self._items.move_to_end(key)
            evicted = False
            while len(self._items) > 1 and sum(w for _, w in self._items.values()) > self.budget:
                self._items.popitem(last=False)
                evicted = True
        if evicted:
            _trim_heap()
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
        _trim_heap()


def _trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc only; elsewhere nothing to do)."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _clinic_months(results: Results) -> int:
    return int(results.scenario.clinics * results.scenario.months)


SIMULATIONS: Recent[Results] = Recent(SIMULATED_CLINIC_MONTHS, _clinic_months)
COMPARISONS: Recent[Comparison] = Recent(SIMULATED_CLINIC_MONTHS, lambda c: 2 * _clinic_months(c.a))
TORNADOS: Recent[Any] = Recent(4)


def simulated(scenario: Scenario, progress: Progress | None = None) -> Results:
    """A simulation, cached on the whole scenario (same inputs, same draws, same answer); `progress`
    is told what is being done when it is not cached."""
    from simulator import simulate

    return SIMULATIONS.get(scenario.model_dump_json(), lambda: simulate(scenario, progress=progress))


def compared(scenario: Scenario, a: CompiledPricebook, b: CompiledPricebook) -> Comparison:
    """Pricebook A against B on one population, cached on the scenario and both versions' hashes."""
    from simulator import compare

    key = (scenario.model_dump_json(), a.semantic_hash, b.semantic_hash)
    return COMPARISONS.get(key, lambda: compare(scenario, [a], [b]))


def tornado_of(scenario: Scenario, progress: Progress | None = None) -> Any:
    """The tornado of a scenario (each assumption ±20 %), cached like simulations."""
    import inspect

    from simulator import load_pricebooks, tornado

    def make() -> Any:
        books = load_pricebooks(scenario.pricebook_paths())
        # ADAPTER (the simulator developer's progress hook): passed once tornado() accepts it.
        if progress is not None and "progress" in inspect.signature(tornado).parameters:
            return tornado(scenario, books, progress=progress)
        return tornado(scenario, books)

    return TORNADOS.get(scenario.model_dump_json(), make)


def inputs_without_effect(scenario: Scenario, pricebooks: Iterable[CompiledPricebook]) -> list[str]:
    """Notes on inputs the chosen pricebooks ignore (a call share when calls and chats cost the same).
    ADAPTER: the simulator developer adds the question to simulator/; until it is merged there is
    nothing to ask and no note is shown."""
    import simulator

    for name in ("inputs_without_effect", "ineffective_inputs", "no_effect"):
        ask = getattr(simulator, name, None) if name in getattr(simulator, "__all__", ()) else None
        if callable(ask):
            return [str(note) for note in ask(scenario, list(pricebooks))]
    return []


# -- uploads ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def read_upload(uploaded: Any, limit: int | None = None) -> Upload | None:
    """The uploaded file's bytes, or None with an error when it is over `limit` bytes (MAX_UPLOAD_MB
    by default), checked before anything parses it: the server's cap is the outer fence."""
    if uploaded is None:
        return None
    limit = limit or MAX_UPLOAD_MB * 1024 * 1024
    size = int(getattr(uploaded, "size", 0) or 0)
    if size > limit:
        st.error(f"{uploaded.name} is {size / 1024 / 1024:.1f} MB; the limit is {limit / 1024 / 1024:g} MB.")
        return None
    data = uploaded.getvalue()
    if len(data) > limit:
        st.error(f"{uploaded.name} is over the {limit / 1024 / 1024:g} MB limit.")
        return None
    return Upload(Path(uploaded.name).name or "upload.xlsx", data)


def _in_temporary_folder(upload: Upload, work: Callable[[Path], T]) -> T:
    """Write the upload to a private temporary folder, run `work` on its path, remove the folder."""
    with tempfile.TemporaryDirectory(prefix="creditbook-upload-") as folder:
        path = Path(folder) / upload.name
        path.write_bytes(upload.data)
        return work(path)


@st.cache_resource(show_spinner=False, max_entries=8)
def _validated(digest: str, _upload: Upload) -> Report:
    from engine.loader import validate_pricebook

    return _in_temporary_folder(_upload, validate_pricebook)


def validated(upload: Upload) -> Report:
    """Validation of an uploaded workbook (cached on its content; the file is gone afterwards)."""
    return _validated(upload.digest, upload)


def annotated_copy(upload: Upload, findings: Iterable[Finding]) -> bytes:
    """The uploaded workbook with its findings marked at their cells, made in a temporary folder."""
    from engine.pricebook.annotate import annotate_workbook

    found = list(findings)
    return _in_temporary_folder(
        upload, lambda path: annotate_workbook(path, found, path.with_name(f"{path.stem}-checked.xlsx")).read_bytes()
    )


# -- forms ------------------------------------------------------------------------------------------------------


def form_key(name: str) -> str:
    """The idempotency key of a form: the same across reruns of one submission, new after it succeeds."""
    slot = f"key:{name}"
    if slot not in st.session_state:
        st.session_state[slot] = f"app-{name}-{uuid.uuid4().hex}"
    return str(st.session_state[slot])


def reset(*keys: str) -> None:
    """Forget widgets' values (before a rerun or in a callback), so they show their defaults again."""
    for key in keys:
        st.session_state.pop(key, None)


def submit(name: str, call: Callable[[str], T], clear: Iterable[str] = ()) -> T | None:
    """Run a form's operation with the form's idempotency key. A refusal is shown in words (None);
    success forgets the key and the form's `clear` widgets, so a second click posts nothing twice."""
    from engine.errors import CreditbookError

    try:
        result = call(form_key(name))
    except CreditbookError as exc:  # every refusal of the public API: its message is for people
        st.error(refusal(exc))
        return None
    reset(f"key:{name}", *clear)
    return result


# -- the error boundary -----------------------------------------------------------------------------------------


def error_boundary(run: Callable[[], object]) -> None:
    """Run a page; an unexpected error is logged in full with an id and shown to the visitor as a
    short message with that id: never a traceback, a path or SQL."""
    try:
        run()
    except Exception:
        error_id = uuid.uuid4().hex[:10]
        log.exception("error %s while running the page", error_id)
        st.error(
            f"Something went wrong on this page and it was stopped. The team can find what happened "
            f"in the app's log under error id **{error_id}**."
        )
