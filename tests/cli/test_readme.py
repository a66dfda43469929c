"""Every ```python block of README.md runs, in order, in one namespace.

Fenced blocks must name their language: ```python blocks are executed; ```text,
```bash and ```console blocks are shown, not run. A ```python script=NAME block is a
whole program: it is saved as NAME and run by the command on its ``# run:`` line
(``torchrun`` there means ``python -m torch.distributed.run``). An untagged block fails the test, so
no code escapes it by accident. Tracebacks point at the README's own line numbers.
"""

from __future__ import annotations

import os

# The Keras example needs a backend before keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[2] / "README.md"
RUN = "python"
SHOWN = frozenset({"text", "bash", "console", "toml"})

_FENCE = re.compile(r"^```[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block: its info string, its code and the README line it starts on."""

    language: str
    code: str
    line: int
    script: str = ""


def _script_name(info: str) -> str:
    words = [w for w in info.split() if w.startswith("script=")]
    return words[0].removeprefix("script=") if words else ""


def code_blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, in order."""
    return [
        Block(
            language=match["info"].strip().split(" ")[0] if match["info"].strip() else "",
            code=match["body"],
            line=text.count("\n", 0, match.start("body")) + 1,
            script=_script_name(match["info"]),
        )
        for match in _FENCE.finditer(text)
    ]


def test_every_block_names_its_language() -> None:
    blocks = code_blocks(README.read_text(encoding="utf-8"))
    untagged = [b.line for b in blocks if b.language not in SHOWN | {RUN}]
    assert not untagged, f"README.md blocks without a known language at lines {untagged}"


def test_readme_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = [
        b
        for b in code_blocks(README.read_text(encoding="utf-8"))
        if b.language == RUN and not b.script
    ]
    assert len(blocks) >= 2, "README.md must show runnable Python (quick start and CLI data)"
    monkeypatch.chdir(tmp_path)  # the examples write files such as lr.json
    torch.set_num_threads(1)
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in blocks:
        # Pad so that line numbers in a traceback are README.md's own.
        source = "\n" * (block.line - 1) + block.code
        exec(compile(source, str(README), "exec"), namespace)


def test_fence_parser_reads_languages_and_lines() -> None:
    text = "intro\n```python\nx = 1\n```\n\n```text\n$ cyclr\n```\n```\nbare\n```\n"
    blocks = code_blocks(text)
    assert [(b.language, b.code, b.line) for b in blocks] == [
        ("python", "x = 1\n", 3),
        ("text", "$ cyclr\n", 7),
        ("", "bare\n", 10),
    ]


SCRIPTS = [b for b in code_blocks(README.read_text(encoding="utf-8")) if b.script]


@pytest.mark.parametrize("block", SCRIPTS, ids=[b.script for b in SCRIPTS])
def test_readme_scripts_run(block: Block, tmp_path: Path) -> None:
    first = block.code.splitlines()[0]
    assert first.startswith("# run: "), f"script {block.script} must start with '# run: ...'"
    words = first.removeprefix("# run: ").split()
    if words[0] == "torchrun":
        words = [sys.executable, "-m", "torch.distributed.run", *words[1:]]
    elif words[0] == "python":
        words = [sys.executable, *words[1:]]
    (tmp_path / block.script).write_text(block.code, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            words, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False
        )

    done = run()
    if done.returncode != 0 and words[1:3] == ["-m", "torch.distributed.run"]:
        # A gloo rank can abort in the interpreter's teardown after the script has run to
        # its end (std::terminate in a thread the process group left behind; the README
        # scripts destroy the group first, which makes it rare, not impossible): once
        # more, and that run must pass.
        aborted = "terminate called without an active exception" in done.stderr
        if aborted and (tmp_path / "range_test.json").exists():
            done = run()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    saved = json.loads((tmp_path / "range_test.json").read_text(encoding="utf-8"))
    assert saved["losses"], "the script's range test recorded no loss"
