import pytest
from django.core.management import CommandError, call_command


def test_dataset_stats_prints_rows_and_lengths(tmp_path, capsys):
    """dataset_stats prints per-split rows, label balance, HTML rows and length figures."""
    path = tmp_path / "r.csv"
    path.write_text('text,label\n"Good<br />film",1\n"Bad film indeed",0\n')
    call_command("dataset_stats", "--data", f"csv:{path}", "--no-tokens")
    out = capsys.readouterr().out
    assert "test" in out and "      2         1         1          1" in out
    assert "words" in out and "chars" in out


def test_dataset_stats_reports_bad_source_as_command_error():
    """An unknown source is a CommandError with the reason, not a traceback."""
    with pytest.raises(CommandError, match="unknown data source"):
        call_command("dataset_stats", "--data", "nope", "--no-tokens")


@pytest.mark.django_db
def test_ensure_superuser_creates_then_updates(monkeypatch):
    """ensure_superuser creates a staff superuser from the environment and is idempotent."""
    from django.contrib.auth import get_user_model

    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "pw-123-long")
    call_command("ensure_superuser")
    call_command("ensure_superuser")
    user = get_user_model().objects.get(username="boss")
    assert user.is_staff and user.is_superuser and user.check_password("pw-123-long")
