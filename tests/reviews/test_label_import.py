"""Importing labelled texts as trusted corrections (manage.py import_labels)."""

import csv
import json

import pytest
from django.core.management import CommandError, call_command

from reviews.models import Feedback, Review
from reviews.services.reviews import classify

pytestmark = pytest.mark.django_db

TEXTS = ["a wonderful, moving film", "dull and far too long", "the cast was great", "an awful ending"]


def write(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def other(label):
    return "negative" if label == "positive" else "positive"


def test_disagreeing_labels_become_approved_trusted_corrections_once(active_model, staff, tmp_path, capsys):
    """Where the model disagrees, the label is a correction flagged and approved by the moderator
    (trusted); where it agrees, the text is kept and counted; a second run imports nothing again,
    and the export holds the corrections."""
    predicted = [r["label"] for r in classify(texts=TEXTS)[0]]
    wanted = [other(predicted[0]), predicted[1], other(predicted[2]), predicted[3]]
    # Labels in any case, an extra column, a byte-order mark: all accepted.
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Text", "Label", "who"])
        writer.writerows([text, label.upper(), "x"] for text, label in zip(TEXTS, wanted))
    call_command("import_labels", str(path), "--user", staff.username)
    assert "4 row(s): 2 correction(s) approved, 2 the model already agreed with, 0 imported before" in capsys.readouterr().out
    corrections = Feedback.objects.order_by("id")
    assert [f.prediction.review.text for f in corrections] == [TEXTS[0], TEXTS[2]]
    for flag in corrections:
        assert flag.status == Feedback.Status.APPROVED and flag.trusted and flag.reviewed_by == staff
        assert flag.review_note == f"imported from {path}" and flag.prediction.review.source == "import"
    assert Review.objects.count() == 4

    call_command("import_labels", str(path), "--user", staff.username)
    assert "0 correction(s) approved, 0 the model already agreed with, 4 imported before" in capsys.readouterr().out
    assert Review.objects.count() == 4 and Feedback.objects.count() == 2

    call_command("export_feedback", "--format", "jsonl", "--status", "approved")
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["text"], r["corrected_label"], r["trusted"]) for r in exported] == [
        (TEXTS[0], wanted[0], True), (TEXTS[2], wanted[2], True)]


def test_a_file_with_bad_rows_imports_nothing_and_names_each(active_model, staff, tmp_path, settings):
    """Every bad row gets its own error with its line number; nothing of the file is imported."""
    settings.SENTIMENT_REVIEW_MAX_CHARS = 100
    path = write(tmp_path / "bad.csv", [
        ["a fine film", "positive"],
        ["   ", "negative"],
        ["a fine film", "negative"],
        ["good", "neutral"],
        ["x" * 101, "positive"],
        ["nul \x00 inside", "positive"],
    ])
    with pytest.raises(CommandError) as caught:
        call_command("import_labels", str(path), "--user", staff.username)
    message = str(caught.value)
    assert message.startswith("nothing imported")
    for expected in ("row 3: Please paste a review", "row 4: the same text as row 2", "row 5: the label is 'neutral'",
                     "row 6: The review is 101 characters long", "row 7: The review contains a NUL character"):
        assert expected in message
    assert "row 2:" not in message and Review.objects.count() == 0


def test_wrong_files_and_users_are_clear_errors(active_model, staff, member, tmp_path):
    good = write(tmp_path / "good.csv", [["a fine film", "positive"]])
    with pytest.raises(CommandError, match="'text' and a 'label' column"):
        call_command("import_labels", str(write(tmp_path / "cols.csv", [["x", "y"]], header=("review", "y"))),
                     "--user", staff.username)
    (tmp_path / "latin1.csv").write_bytes("text,label\ncaf\xe9,positive\n".encode("latin-1"))
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_labels", str(tmp_path / "latin1.csv"), "--user", staff.username)
    with pytest.raises(CommandError, match="no rows"):
        call_command("import_labels", str(write(tmp_path / "empty.csv", [])), "--user", staff.username)
    with pytest.raises(CommandError, match="no file"):
        call_command("import_labels", str(tmp_path / "missing.csv"), "--user", staff.username)
    with pytest.raises(CommandError, match="may moderate"):
        call_command("import_labels", str(good), "--user", member.username)
    with pytest.raises(CommandError, match="no user"):
        call_command("import_labels", str(good), "--user", "nobody")
    assert Review.objects.count() == 0
