"""Anonymous visitors' session keys were stored as they are (Review.session_key,
Feedback.session_key, Feedback.reporter "session:<key>", and Explanation.requester "anon:<key>"
for a client without an address) and shown in the admin, where the value worked as the visitor's
cookie. Rows now keep an HMAC of the key; this rewrites the old ones, so their visitors still find
their reviews and flags."""

import re

from django.db import migrations
from django.utils.crypto import salted_hmac

# Frozen here as reviews.identity.session_hash was when this was written (a later change of
# that function needs a migration of its own).
PURPOSE = "reviews.session-key"
ALREADY_HASHED = re.compile(r"^[0-9a-f]{64}$")  # a Django session key is 32 characters


def session_hash(key: str) -> str:
    return salted_hmac(PURPOSE, key, algorithm="sha256").hexdigest()


def _raw(values) -> list[str]:
    return [v for v in dict.fromkeys(values) if v and not ALREADY_HASHED.match(v)]


def hash_session_keys(apps, schema_editor):
    for name in ("Review", "Feedback"):
        model = apps.get_model("reviews", name)
        keys = _raw(model.objects.exclude(session_key="").values_list("session_key", flat=True).iterator())
        for key in keys:
            model.objects.filter(session_key=key).update(session_key=session_hash(key))
    for name, field, prefix in (("Feedback", "reporter", "session:"), ("Explanation", "requester", "anon:")):
        model = apps.get_model("reviews", name)
        rows = model.objects.filter(**{f"{field}__startswith": prefix}).values_list("pk", field)
        for pk, value in list(rows.iterator()):
            key = value.removeprefix(prefix)
            # A requester "anon:<client hash>" is a hash already (64 hex characters): kept.
            if key and not ALREADY_HASHED.match(key):
                model.objects.filter(pk=pk).update(**{field: f"{prefix}{session_hash(key)}"})


class Migration(migrations.Migration):
    dependencies = [("reviews", "0007_versions_awaiting_seal")]

    # Backwards there is nothing to restore: the keys are gone, which was the point.
    operations = [migrations.RunPython(hash_session_keys, migrations.RunPython.noop)]
