"""The README is for users: short, and it opens with the two commands."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_at_most_300_lines_and_opens_with_the_two_commands():
    """At most 300 lines; `make run` and `make test` come first."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300
    opening = "\n".join(lines[:8])
    assert "make run" in opening and "make test" in opening
