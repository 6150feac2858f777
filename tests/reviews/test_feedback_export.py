"""Exporting the corrections: the command in every format, and the streamed API."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from reviews.services.feedback import feedback_flag, feedback_reject
from reviews.services.feedback_export import FIELDS, source_hash
from reviews.services.reviews import review_submit
from tests.reviews.conftest import approved_corrections

pytestmark = pytest.mark.django_db

HOSTILE = '=HYPERLINK("http://evil.example","click") "quoted", comma\nnew line 😀'


@pytest.fixture
def flags(active_model, staff):
    """Two approved corrections, one rejected flag on a hostile text, one pending."""
    approved = approved_corrections(staff, 2)
    hostile = review_submit(text=HOSTILE, session_key="mallory")
    other = "negative" if hostile.label == "positive" else "positive"
    rejected = feedback_reject(feedback=feedback_flag(prediction=hostile, label=other, session_key="mallory")[0],
                               reviewer=staff, note="spam")
    plain = review_submit(text="a quiet, slow film", session_key="alice")
    pending, _ = feedback_flag(prediction=plain, label="negative" if plain.label == "positive" else "positive",
                               session_key="alice")
    return [*approved, rejected, pending]


def test_every_format_holds_every_flag_and_reads_back(flags, tmp_path, capsys):
    """csv, jsonl, parquet and a Hugging Face dataset hold the same rows, texts exactly (CSV
    defuses a formula), sources hashed, and load_from_disk reads the dataset back."""
    import pandas as pd
    from datasets import load_from_disk

    for fmt in ("csv", "jsonl", "parquet", "hf"):
        call_command("export_feedback", "--format", fmt, "--output", str(tmp_path / f"out.{fmt}"))
        assert f"wrote {len(flags)} flag(s)" in capsys.readouterr().err
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        from_csv = list(csv.DictReader(handle))
    from_jsonl = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    from_parquet = pd.read_parquet(tmp_path / "out.parquet").to_dict("records")
    dataset = load_from_disk(str(tmp_path / "out.hf"))
    names = dataset.features["corrected_label"].names
    from_hf = [{**row, "corrected_label": names[row["corrected_label"]]} for row in dataset]

    expected_ids = [f.id for f in sorted(flags, key=lambda f: (f.created_at, f.id))]
    for rows in (from_csv, from_jsonl, from_parquet, from_hf):
        assert list(rows[0]) == list(FIELDS)
        assert [int(r["id"]) for r in rows] == expected_ids
        by_status = {r["status"] for r in rows}
        assert by_status == {"approved", "rejected", "pending"}
    hostile = flags[2]
    texts = {fmt: [r for r in rows if int(r["id"]) == hostile.id][0]["text"]
             for fmt, rows in (("csv", from_csv), ("jsonl", from_jsonl), ("parquet", from_parquet), ("hf", from_hf))}
    assert texts["csv"] == "'" + HOSTILE  # a spreadsheet shows it, never runs it
    assert texts["jsonl"] == texts["parquet"] == texts["hf"] == HOSTILE
    row = [r for r in from_jsonl if r["id"] == hostile.id][0]
    assert row["source"] == source_hash(hostile.source) and "mallory" not in json.dumps(from_jsonl)
    assert row["corrected_label"] == hostile.corrected_label and row["reviewed_at"] and row["held_out"] is False
    assert from_hf[0]["corrected_label"] == flags[0].corrected_label and from_hf[0]["trusted"] is False


def test_a_status_filter_stdout_and_refusals(flags, tmp_path, capsys):
    """--status keeps those flags; csv and jsonl go to standard output without --output; an existing
    path is never overwritten, and parquet needs a path."""
    call_command("export_feedback", "--format", "jsonl", "--status", "approved")
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f.id for f in flags[:2]]
    (tmp_path / "taken.csv").write_text("keep me")
    with pytest.raises(CommandError, match="exists already"):
        call_command("export_feedback", "--output", str(tmp_path / "taken.csv"))
    assert (tmp_path / "taken.csv").read_text() == "keep me"
    with pytest.raises(CommandError, match="give --output"):
        call_command("export_feedback", "--format", "parquet")
    call_command("export_feedback", "--format", "parquet", "--status", "rejected", "--output", str(tmp_path / "none.parquet"))
    assert "wrote 1 flag(s)" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*partial"))


def test_the_api_streams_the_export_to_staff_only(flags, staff_api, member_api, api):
    """GET /api/v1/feedback/export streams CSV (or JSON Lines) as an attachment to staff who may
    see flags; others get 401 or 403; a bad format is a clear 400."""
    response = staff_api.get("/api/v1/feedback/export")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == len(flags) and rows[2]["text"] == "'" + HOSTILE
    jsonl = staff_api.get("/api/v1/feedback/export?format=jsonl&status=pending")
    assert [json.loads(line)["id"] for line in b"".join(jsonl.streaming_content).decode().splitlines()] == [flags[3].id]
    bad = staff_api.get("/api/v1/feedback/export?format=xlsx")
    assert bad.status_code == 400 and "format" in bad.json()["error"]["fields"]
    assert member_api.get("/api/v1/feedback/export").status_code == 403
    assert api.get("/api/v1/feedback/export").status_code == 401
