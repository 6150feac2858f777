"""`python -m sentiment_site.install`: what an installation needs before Django starts (make run
and make test call it): its data folder private (0700), and a secret key file (0600) made once
when DJANGO_SECRET_KEY is not set; the SQLite file, if there is one, made private too."""

from pathlib import Path

from reviews.conf import from_environment
from sentiment_site.env import create_key_file, private_folder

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> None:
    values = from_environment(BASE_DIR)
    var_dir = values["SENTIMENT_VAR_DIR"]
    private_folder(var_dir)
    if not values["DJANGO_SECRET_KEY"]:
        create_key_file(var_dir / "secret_key")
    url = values["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///"))
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            if path.exists():
                path.chmod(0o600)


if __name__ == "__main__":
    main()
