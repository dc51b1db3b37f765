"""Every fenced code block in README.md and docs/**/*.md runs, or says why it does not.

The convention (README.md, "Tests", points here):

* ```python blocks run: a file's blocks in order, in one namespace, with a fresh temporary
  directory as the working directory (so ``./data`` is a new database).
* ```bash blocks run only when ``<!-- run -->`` is on the line before the fence: with
  ``bash -euo pipefail`` in that same directory and the venv's ``bin/`` first on ``PATH`` (so
  ``slabdb`` is this checkout's). A bash block must say either ``run`` or ``not-run``: shell
  commands can have effects (``pip install``, ``make``), so nothing runs by accident.
* ```text blocks are diagrams, layouts or output: never run.
* ``<!-- not-run: REASON -->`` on the line before a fence skips that block (needs Postgres,
  S3, runs forever, ...). The reason is required.
* ``<!-- needs-server -->`` on the line before a fence (python or bash) runs the block, and
  before the file's first such block the test starts ``slabdb serve --data ./data`` (``slabdb.testing.server.ServerProcess``, on free
  ports), and ``127.0.0.1:5080`` in the block is pointed at that server's port.

Any other block (no language, ``yaml``, ..., or bash without a marker) fails the test, and so
does a runnable block that raises or exits non-zero.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import slabdb
from slabdb.testing.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUNNABLE = {"python", "bash"}
OPT_IN = {"bash"}  # runs only when marked <!-- run --> or <!-- needs-server -->
NOT_CODE = {"text"}
CONTROL_URL = "127.0.0.1:5080"
BASH_TIMEOUT_SECONDS = 60

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<kind>not-run|needs-server|run)\b:?(?P<reason>.*?)-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it starts, its language, its code and its marker."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    not_run: str | None  # the reason, when marked <!-- not-run: ... -->
    needs_server: bool
    marked_run: bool  # <!-- run --> or <!-- needs-server -->

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def runs(self) -> bool:
        if self.not_run is not None or self.lang not in RUNNABLE:
            return False
        return self.marked_run or self.lang not in OPT_IN


def _marker(lines: list[str], fence_index: int) -> tuple[str, str]:
    """The ``(kind, reason)`` of the marker on the nearest non-blank line above, or ``("", "")``."""
    i = fence_index - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    m = _MARKER.match(lines[i]) if i >= 0 else None
    return (m["kind"], m["reason"].strip()) if m else ("", "")


def parse_blocks(path: Path, text: str | None = None) -> list[Block]:
    lines = (path.read_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        fence, indent, start = m["fence"], len(m["indent"]), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.fullmatch(
            rf" *{re.escape(fence[0])}{{{len(fence)},}}\s*", lines[i]
        ):
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i].lstrip())
            i += 1
        info = m["info"].split()
        kind, reason = _marker(lines, start)
        code = "\n".join(body) + "\n"
        not_run = reason if kind == "not-run" else None
        server = kind == "needs-server"
        lang = info[0] if info else ""
        blocks.append(Block(path, start + 1, lang, code, not_run, server, server or kind == "run"))
        i += 1
    return blocks


def convention_errors(blocks: list[Block]) -> list[str]:
    errors = []
    for b in blocks:
        if b.not_run == "":
            errors.append(f"{b.where}: <!-- not-run: ... --> needs a reason")
        elif b.not_run is None and b.lang not in RUNNABLE | NOT_CODE:
            errors.append(
                f"{b.where}: a ```{b.lang or '(no language)'} block cannot run: use python, "
                "bash or text, or put <!-- not-run: REASON --> on the line before it"
            )
        elif b.not_run is None and b.lang in OPT_IN and not b.marked_run:
            errors.append(
                f"{b.where}: a ```{b.lang} block needs <!-- run --> or <!-- not-run: REASON --> "
                "on the line before it"
            )
        if b.marked_run and not b.runs:
            errors.append(
                f"{b.where}: <!-- run --> or <!-- needs-server --> on a block that cannot run"
            )
    return errors


def _run_python(block: Block, code: str, namespace: dict[str, object]) -> None:
    padded = "\n" * (block.line) + code  # tracebacks show the Markdown file's line numbers
    try:
        exec(compile(padded, str(block.path), "exec"), namespace)
    except Exception as exc:
        raise AssertionError(f"{block.where}: ```python block raised {exc!r}") from exc


def _run_bash(block: Block, code: str, cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=BASH_TIMEOUT_SECONDS,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"{block.where}: ```bash block exited {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )


def run_blocks(blocks: list[Block], cwd: Path) -> None:
    """Run the runnable blocks in order in ``cwd``; start a server on ``cwd/data`` when one
    is first needed, and stop it at the end."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    server: ServerProcess | None = None
    try:
        for block in (b for b in blocks if b.runs):
            code = block.code
            if block.needs_server:
                if server is None:
                    (cwd / "data").mkdir(exist_ok=True)
                    server = ServerProcess(data=cwd / "data").start()
                code = code.replace(CONTROL_URL, f"127.0.0.1:{server.port}")
            if block.lang == "python":
                _run_python(block, code, namespace)
            else:
                _run_bash(block, code, cwd)
    finally:
        if server is not None:
            server.stop()


def _until_first_server(blocks: list[Block]) -> list[Block]:
    firsts = [i for i, b in enumerate(blocks) if b.needs_server]
    return blocks[: firsts[0]] if firsts else blocks


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


ALL_BLOCKS = {p: parse_blocks(p) for p in DOC_FILES}
WITH_SERVER = [p for p, bs in ALL_BLOCKS.items() if any(b.needs_server for b in bs)]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def test_every_block_runs_or_says_why_not() -> None:
    errors = [e for blocks in ALL_BLOCKS.values() for e in convention_errors(blocks)]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("path", DOC_FILES, ids=_ids(DOC_FILES))
def test_blocks_before_any_server_run(path: Path, in_tmp: Path) -> None:
    run_blocks(_until_first_server(ALL_BLOCKS[path]), in_tmp)


@pytest.mark.slow  # starts a `slabdb serve` subprocess
@pytest.mark.parametrize("path", WITH_SERVER, ids=_ids(WITH_SERVER))
def test_all_blocks_run_with_a_server(path: Path, in_tmp: Path) -> None:
    run_blocks(ALL_BLOCKS[path], in_tmp)


def test_readme_has_runnable_python_and_bash() -> None:
    langs = {b.lang for b in ALL_BLOCKS[ROOT / "README.md"] if b.runs}
    assert langs == RUNNABLE


SAMPLE = """\
```yaml
a: 1
```

<!-- not-run: needs S3 -->
```bash
aws s3 ls
```

<!-- not-run -->
```python
pass
```

<!-- needs-server -->
```text
diagram
```

```bash
echo unmarked
```
"""


def test_the_checker_flags_unmarked_and_unexplained_blocks(tmp_path: Path) -> None:
    doc = ROOT / "docs" / "sample.md"  # only used for its name; never written
    errors = convention_errors(parse_blocks(doc, SAMPLE))
    assert [e.split(":")[1] for e in errors] == ["1", "11", "16", "20"]
    assert "```yaml" in errors[0] and "needs a reason" in errors[1]
    assert "cannot run" in errors[2] and "needs <!-- run -->" in errors[3]


def test_a_failing_block_fails_the_run(tmp_path: Path) -> None:
    doc = ROOT / "docs" / "sample.md"
    text = "```python\nx = 1\n```\n\n<!-- run -->\n```bash\ntest -f missing-file\n```\n"
    blocks = parse_blocks(doc, text)
    assert [b.runs for b in blocks] == [True, True]
    with pytest.raises(AssertionError, match=r"sample.md:6: ```bash block exited 1"):
        run_blocks(blocks, tmp_path)
    with pytest.raises(AssertionError, match=r"sample.md:1: ```python block raised"):
        run_blocks(parse_blocks(doc, "```python\nraise ValueError\n```\n"), tmp_path)


def test_package_doctest() -> None:
    result = doctest.testmod(slabdb, verbose=False)
    assert result.attempted > 0 and result.failed == 0
