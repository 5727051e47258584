"""bench/RESULTS.md keeps its history across runs, and nothing else of the old file."""

from __future__ import annotations

from pathlib import Path

from bench.report import Report, Row, history_entries, write


def test_the_history_survives_a_rewrite_and_ends_at_the_next_heading(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(
        "# Benchmarks\n\n- cores: 2\n\n## History\n\n- first entry\n- second entry\n\n"
        "## Notes written by hand\n\n- not history\n"
    )
    assert history_entries(results) == ["- first entry", "- second entry"]

    report = Report({"date": "today", "commit": "abc1234"}, [Row("1. latency", "2 ms")])
    report.targets[1] = "- end-to-end p50 latency: 1.10x raw (target: at most 1.15x): met."
    report.headline = "latency p50 2 ms."
    write(report, "a change", results)
    text = results.read_text()
    assert history_entries(results) == [
        "- first entry",
        "- second entry",
        "- today, abc1234: a change. latency p50 2 ms.",
    ]
    assert "not history" not in text
    assert text.index("## Against the targets") < text.index("## History")
    assert "(target: at most 1.15x): met." in text
