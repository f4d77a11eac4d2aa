"""The docs test's reading of the Markdown pages (tests/support/doc_blocks.py); the run itself
is tests/e2e/test_docs_run.py."""

from __future__ import annotations

from tests.support.doc_blocks import ROOT, Block, blocks, expectations, missing, pages


def test_every_example_file_is_run_by_a_block() -> None:
    text = "".join(b.text for page in pages() for b in blocks(page) if b.runs)
    examples = sorted(p.name for p in (ROOT / "docs" / "examples").glob("*.py"))
    assert len(examples) == 4
    assert [e for e in examples if f"docs/examples/{e}" not in text] == []


def test_a_block_that_does_not_run_says_why() -> None:
    skipped = [b for page in pages() for b in blocks(page) if not b.runs]
    assert skipped, "some blocks are marked"
    for block in skipped:
        assert block.info.startswith("not-run: ") and len(block.info) > 20, block.where


def test_the_walkthrough_runs_and_ends_verified() -> None:
    [walkthrough] = [b for b in blocks("README.md") if "/verify" in b.text]
    assert walkthrough.runs
    assert '"verified":true' in walkthrough.expected


def test_documented_output_is_read_pair_by_pair_and_in_order() -> None:
    block = Block(
        "x.md",
        1,
        "sh",
        "",
        "curl x\n"
        '# {"id": "...", "verified": true, "reason": null, "attempts_left": 4,\n'
        '#  "status": "verified"}\n'
        "# prints: webhook.test ... done\n",
    )
    assert expectations(block) == [
        '"verified":true',
        '"reason":null',
        '"attempts_left":4',
        '"status":"verified"',
        "webhook.test",
        "done",
    ]
    block.expected = expectations(block)
    printed = '{"id":"1","verified":true,"reason":null,"attempts_left":4,"status":"verified"}'
    assert missing(block, printed + " webhook.test {} done") == []
    assert missing(block, printed.replace("true", "false") + " webhook.test done") == [
        '"verified":true'
    ]
    assert missing(block, "done webhook.test " + printed) == ["webhook.test", "done"]
