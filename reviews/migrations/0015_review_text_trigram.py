"""On PostgreSQL, search in review texts through a trigram index (pg_trgm).

`review_list(search=...)` filters with `text__icontains`, which Django writes on PostgreSQL as
`UPPER("text"::text) LIKE UPPER('%word%')`: a GIN index of `upper(text)` with `gin_trgm_ops`
answers that very expression, so search keeps its behaviour (a case-insensitive substring) and
stops reading every review. pg_trgm ships with PostgreSQL and is a trusted extension (13+): the
database's owner may create it. SQLite keeps its scan; nothing changes there.

On a large table the index takes minutes to build and blocks writes to reviews meanwhile: with a
million reviews, run the migration in a quiet hour (docs/deployment.md).
"""

from django.db import migrations

INDEX = "review_text_upper_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON reviews_review USING gin (upper(text) gin_trgm_ops)")


def drop_index(apps, schema_editor):
    # The extension stays: other objects of the database may use it.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("reviews", "0014_moderation_queue_triage_agreement")]

    operations = [migrations.RunPython(create_index, drop_index)]
