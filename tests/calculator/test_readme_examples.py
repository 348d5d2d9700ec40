"""The README's command-line examples, run as written: every `python -m calculator` command in a code block
(continuation lines joined, `[optional]` parts left out) that is complete (no `...`, no `|` alternatives)
and quick (not calibrate, refit or benchmark, which take minutes and have their own tests) must exit 0 and
print no traceback, so the README cannot drift from the CLI unnoticed."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SLOW = {"calibrate", "refit", "benchmark"}


def readme_commands() -> list[str]:
    blocks, current, language = [], None, ""
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if current is None:
                current, language = [], line[3:].strip()
            else:
                if language in ("", "sh", "bash"):
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    commands = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            # Optional parts ("[--json]") are left out; what remains must be a whole command.
            line = re.sub(r"\s*\[[^\]]*\]", "", line.split("#", 1)[0]).strip()
            match = re.match(r"^(?:\.venv/bin/)?python -m calculator (\S+)(.*)$", line)
            if not match or match.group(1) in SLOW:
                continue
            if "..." in line or "[" in line or "|" in line or "$" in line:
                continue
            commands.append(line)
    return commands


COMMANDS = readme_commands()


def test_the_readme_has_runnable_examples():
    assert len(COMMANDS) >= 8, COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_a_readme_example_runs(command):
    args = shlex.split(command)
    start = args.index("calculator") + 1
    result = subprocess.run(
        [sys.executable, "-m", "calculator", *args[start:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr
