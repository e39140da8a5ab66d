"""README.md starts with the two set-up commands, and CI runs exactly its test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_readme_opens_with_the_main_job_and_the_tests():
    main_job, tests = _commands()
    assert main_job.endswith("minis2s train"), main_job
    assert 'pip install -e ".[dev]"' in main_job and 'pip install -e ".[dev]"' in tests
    assert re.search(r"&& pytest\b", tests), tests


def test_ci_runs_the_readme_test_command():
    _, tests = _commands()
    pytest_command = tests.split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert pytest_command in [line.strip() for line in ci], (
        f".ci/run must run the README's test command {pytest_command!r}")
