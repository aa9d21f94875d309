"""The README is true by construction: every ```sh and ```python example in it runs here, in README
order, and must print what the README says it prints.

How to write an example this test understands (keep to it when you add a section):

- ```sh blocks run, top to bottom, in ONE bash session (`set -o pipefail`) started in a scratch folder
  that links `pricebooks/`, `tests/fixtures/` and `.venv/` from the checkout (nothing is written to
  the checkout), with `.venv/bin` NOT on the PATH: the quick start has to say how to put `creditbook`
  there. A line ending in a backslash continues the command. COLUMNS is 100.
- ```python blocks run as one Python session in the same folder (names carry over between blocks).
- What a block prints is written as `# → text` lines, on their own or after a command or statement,
  in the order printed (for sh: standard output and error together; for Python: standard output).
  `...` stands for any text, across lines too; runs of whitespace compare equal (rich wraps tables).
  A block without `# →` lines may instead be followed directly by a ```text block holding its output;
  a block with neither must print nothing.
- Every command must exit 0 unless its comment says `(exit N)`.
- A command that cannot run here (a server, the install, the test suite itself) says
  `(not run by tests: why)` in its comment; NOT_RUN lists the only ones allowed, so a failing example
  cannot be hidden by marking it.
- Fences other than sh, python, text and plain ``` fail the test, so no example escapes by its name.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.paths import ROOT

README = ROOT / "README.md"
NOT_RUN = {"make install", "make app", "make serve", "make test", "make bench", "make soak", "make lint"}
LANGUAGES = {"sh", "python", "text", ""}
LINKED = ("pricebooks", "tests/fixtures", ".venv")
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
EXPECTED = re.compile(r"#\s?→ ?(.*)$")
EXIT = re.compile(r"\(exit (\d+)\)")
SKIP = re.compile(r"\(not run by tests: [^)]+\)")


@dataclass
class Command:
    text: str  # as bash reads it (comment included)
    remark: str  # the trailing comment, where (exit N) and (not run by tests: …) live
    exit_code: int
    skipped: bool


@dataclass
class Block:
    language: str
    line: int  # 1-based line of the opening fence
    code: str
    expected: list[str]
    commands: list[Command] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"README.md:{self.line} {self.language}"


@dataclass
class Outcome:
    output: str = ""
    failures: list[str] = field(default_factory=list)


def parse(markdown: str) -> list[Block]:
    """Every fenced block; sh and python blocks with their expected output and commands."""
    blocks: list[Block] = []
    for match in FENCE.finditer(markdown):
        language, code = match.group(1), match.group(2)
        line = markdown.count("\n", 0, match.start()) + 1
        expected = [m.group(1) for m in map(EXPECTED.search, code.splitlines()) if m]
        following = markdown[match.end() :].lstrip("\n")
        if not expected and language in ("sh", "python") and following.startswith("```text\n"):
            expected = following[len("```text\n") : following.index("\n```", len("```text"))].splitlines()
        block = Block(language, line, code, expected)
        if language == "sh":
            block.commands = list(_commands(code))
        blocks.append(block)
    return blocks


def _commands(code: str) -> Iterator[Command]:
    pending = ""
    for raw in code.splitlines():
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.rstrip().endswith("\\") and _comment_start(raw) is None:
            pending += raw.rstrip()[:-1] + " "
            continue
        text = pending + raw
        pending = ""
        start = _comment_start(text)
        remark = text[start:] if start is not None else ""
        exit_code = EXIT.search(remark)
        yield Command(text, remark, int(exit_code.group(1)) if exit_code else 0, bool(SKIP.search(remark)))


def _comment_start(line: str) -> int | None:
    """Where a shell comment starts: a # at the start of a word, outside quotes."""
    quote = None
    for n, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (n == 0 or line[n - 1].isspace()):
            return n
    return None


def mismatch(expected: list[str], output: str) -> str | None:
    """None when the output fits the expected lines (whitespace runs equal, `...` any text), else
    the first expected piece that is missing, with what stands there instead."""
    want = " ".join(" ".join(expected).split())
    got = " ".join(output.split())
    pattern = ".*?".join(re.escape(part) for part in want.split("..."))
    if re.fullmatch(pattern, got, re.S):
        return None
    position = 0
    pieces = want.split("...")
    for n, piece in enumerate(piece.strip() for piece in pieces):
        found = got.find(piece, position)
        if found < 0:
            return f"expected {piece!r}\n     near {got[position : position + len(piece) + 80]!r}"
        if n == 0 and found > 0:
            return f"the output starts with {got[:found][:120]!r} before {piece!r}"
        position = found + len(piece)
    return f"the output goes on after the README's last line: {got[position:][:120]!r}"


def scratch_folder(into: Path) -> Path:
    """A folder that looks like the checkout to the examples but keeps what they write."""
    for name in LINKED:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        (into / name).symlink_to(ROOT / name, target_is_directory=True)
    return into


def run_shell(blocks: list[Block], folder: Path) -> dict[int, Outcome]:
    """Run every sh block's commands in one bash session; each block's output and failures."""
    mark = f"@@readme-{secrets.token_hex(6)}"
    script = ["set -o pipefail"]
    commands = [(n, c) for n, block in enumerate(blocks) for c in block.commands if not c.skipped]
    for index, (_, command) in enumerate(commands):
        script.append(f"printf '\\n{mark} start {index}\\n'")
        script.append(f"{{ {command.text}\n}} 2>&1")
        script.append(f"printf '\\n{mark} end {index} %s\\n' \"$?\"")
    venv_bin = (ROOT / ".venv" / "bin").resolve()
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != venv_bin
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDITBOOK_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(PATH=path, COLUMNS="100", LINES="50", TERM="dumb", NO_COLOR="1")
    finished = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", "\n".join(script)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    transcript = finished.stdout + finished.stderr
    outcomes = {n: Outcome() for n, block in enumerate(blocks) if block.language == "sh"}
    for index, (n, command) in enumerate(commands):
        found = re.search(rf"{mark} start {index}\n(.*?)\n{mark} end {index} (\d+)\n", transcript, re.S)
        if found is None:
            outcomes[n].failures.append(f"never finished: {command.text}")
            continue
        outcomes[n].output += found.group(1) + "\n"
        if int(found.group(2)) != command.exit_code:
            outcomes[n].failures.append(
                f"exit {found.group(2)} (expected {command.exit_code}): {command.text}\n{found.group(1)[-3000:]}"
            )
    return outcomes


def run_python(blocks: list[Block], folder: Path) -> dict[int, Outcome]:
    """Run every python block in one namespace, in `folder`; each block's standard output."""
    outcomes = {}
    namespace: dict[str, object] = {"__name__": "__readme__"}
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        for n, block in enumerate(blocks):
            if block.language != "python":
                continue
            outcome = outcomes[n] = Outcome()
            out, err = io.StringIO(), io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    exec(compile(block.code, f"README.md:{block.line}", "exec"), namespace)
            except Exception:
                outcome.failures.append(traceback.format_exc(limit=-3))
            outcome.output = out.getvalue()
    finally:
        os.chdir(cwd)
    return outcomes


def check(blocks: list[Block], outcomes: dict[int, Outcome]) -> dict[int, list[str]]:
    """Each run block's failures: errors, unexpected exit codes, output unlike the README's."""
    problems = {}
    for n, outcome in outcomes.items():
        failures = list(outcome.failures)
        difference = mismatch(blocks[n].expected, outcome.output)
        if difference is not None:
            failures.append(f"printed something else: {difference}\n--- printed:\n{outcome.output[-4000:]}")
        problems[n] = failures
    return problems


BLOCKS = parse(README.read_text(encoding="utf-8"))
RUN = [n for n, block in enumerate(BLOCKS) if block.language in ("sh", "python")]


@pytest.fixture(scope="module")
def readme_run() -> Iterator[dict[int, list[str]]]:
    """Run the whole README once. The scratch folder lives in memory where there is a tmpfs: the demo
    ledger's thousands of fsyncs (synchronous=FULL) would otherwise dominate the run."""
    base = "/dev/shm" if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="creditbook-readme-", dir=base))
    try:
        scratch_folder(folder)
        outcomes = run_shell(BLOCKS, folder) | run_python(BLOCKS, folder)
        yield check(BLOCKS, outcomes)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("index", RUN, ids=[BLOCKS[n].name for n in RUN])
def test_readme_example_runs_and_prints_what_it_says(index: int, readme_run: dict[int, list[str]]) -> None:
    problems = readme_run[index]
    assert not problems, f"{BLOCKS[index].name}:\n" + "\n\n".join(problems)


def test_only_servers_and_the_build_itself_are_not_run() -> None:
    skipped = {" ".join(c.text[: _comment_start(c.text)].split()) for b in BLOCKS for c in b.commands if c.skipped}
    assert skipped <= NOT_RUN, f"examples marked not run that must run: {sorted(skipped - NOT_RUN)}"
    assert RUN and any(b.commands for b in BLOCKS)


def test_every_fence_is_an_example_or_output() -> None:
    unknown = [f"{b.name!r}" for b in BLOCKS if b.language not in LANGUAGES]
    assert not unknown, f"fences this test would not run (use sh, python or text): {unknown}"


def test_a_wrong_example_fails(tmp_path: Path) -> None:
    """The checker itself: a wrong output, a failing command and a wrong exit code are all caught,
    and a right one passes."""
    blocks = parse(
        "```sh\necho hello   # → hello\necho there  # → where\n```\n\n"
        "```sh\nfalse\ntrue   # (exit 1)\n```\n\n"
        "```sh\nprintf 'a  b\\nc\\n'\n```\n```text\na b ...\n```\n\n"
        "```python\nprint(1 + 1)  # → 2\nraise ValueError('boom')\n```\n"
    )
    problems = check(blocks, run_shell(blocks, tmp_path) | run_python(blocks, tmp_path))
    assert "printed something else" in problems[0][0] and len(problems[0]) == 1
    assert [p.split(":")[0] for p in problems[1]] == ["exit 1 (expected 0)", "exit 0 (expected 1)"]
    assert problems[2] == []
    assert "ValueError: boom" in problems[4][0] and len(problems[4]) == 1  # [3] is the text block
