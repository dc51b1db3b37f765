"""The README's examples and the package doctest run as written."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

import slabdb

ROOT = Path(__file__).resolve().parents[2]


def _python_blocks(path: Path) -> list[str]:
    text = path.read_text()
    return [
        b
        for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
        if b.startswith("import slabdb")
    ]


@pytest.mark.parametrize("block", _python_blocks(ROOT / "README.md"))
def test_readme_example_runs(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})


def test_readme_has_an_executable_example() -> None:
    assert _python_blocks(ROOT / "README.md")


def test_package_doctest() -> None:
    result = doctest.testmod(slabdb, verbose=False)
    assert result.attempted > 0 and result.failed == 0
