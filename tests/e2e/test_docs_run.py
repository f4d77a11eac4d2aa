"""The README is a test: every code block a newcomer is told to run (README.md first, then each
page of docs/, then client/README.md) runs, in order, in one shell, against a fresh `make run`
on a port of its own, from a folder laid out as a checkout; each block's documented output is
checked (tests/support/doc_blocks.py says how). A block that should not run says so in its
info string (`not-run: why`)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from launch.ports import free_port
from tests.support.doc_blocks import ROOT, Block, blocks, missing, pages
from tests.support.make_run import MakeRun

pytestmark = pytest.mark.e2e

END = "::flashcall-docs-block-end::"


def checkout(tmp: Path, data_dir: Path) -> Path:
    """A folder that looks like the repository's root (its entries linked), with `var` being
    the make run's data folder, so `. var/env` finds this run and nothing else's."""
    folder = tmp / "checkout"
    folder.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("var", ".git", ".venv"):
            (folder / entry.name).symlink_to(entry)
    (folder / "var").symlink_to(data_dir)
    # The environment this test runs in (a worktree of the repository has none of its own).
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)
    return folder


def script(runnable: list[Block], work: Path) -> str:
    """One bash script: each block, then a line marking its end."""
    parts = ["set -euo pipefail"]
    for i, block in enumerate(runnable):
        if block.language == "python":
            source = work / f"block-{i}.py"
            source.write_text(block.text)
            body = f".venv/bin/python {shlex.quote(str(source))}"
        else:
            body = block.text
        parts.append(f"# {block.where}\n{body}\necho {END}")
    return "\n".join(parts) + "\n"


def test_every_block_a_newcomer_is_told_to_run_runs(tmp_path: Path) -> None:
    runnable = [b for page in pages() for b in blocks(page) if b.runs]
    assert len(runnable) >= 12
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    folder = checkout(tmp_path, data_dir)
    with MakeRun(str(data_dir), free_port()) as run:
        env_file = data_dir / "env"
        assert env_file.exists(), run.text()
        banner = run.text()
        assert ". var/env" in banner or f". {env_file}" in banner
        assert "/panel/operator/sign-in" in banner
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "API", "KEY", "TOKEN")
        }
        env["FLASHCALL_DATA_DIR"] = str(data_dir)  # as make run was given it
        done = subprocess.run(
            ["bash", "-c", script(runnable, tmp_path)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        outputs = done.stdout.split(END + "\n")
        ran = len(outputs) - 1
        failed_at = runnable[ran].where if ran < len(runnable) else None
        assert done.returncode == 0, (
            f"the block at {failed_at} failed:\n{outputs[-1][-3000:]}\n{done.stderr[-3000:]}"
        )
        for block, output in zip(runnable, outputs, strict=False):
            assert not missing(block, output), (block.where, missing(block, output), output)
    assert "stopped, in" in run.text()
    assert not env_file.exists(), "make run removes var/env when it stops"
