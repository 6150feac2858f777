"""Flags stored before sources existed get theirs: "user:<id>", else "client:<client hash>" (the
client hash was kept), else the session reporter; the key of their text; and each source's record
(flags, approved, rejected). Their network is unknown (the address was never stored), so the
per-network cap does not see them; the per-source cap does."""

from django.db import migrations
from django.db.models import Count, Q

from django.utils.crypto import salted_hmac

from modeling.cleaning import text_fingerprint
from modeling.retrain import is_holdout
from reviews.conf import conf


def holdout_key(text_hash: str) -> bytes:
    # As reviews.services.feedback.holdout_key was when this was written.
    return salted_hmac("reviews.holdout", text_hash).digest()


def backfill(apps, schema_editor):
    Feedback = apps.get_model("reviews", "Feedback")
    FeedbackSource = apps.get_model("reviews", "FeedbackSource")
    # The keys first: updating the indexed column under an open cursor over it may skip rows.
    pending = list(Feedback.objects.filter(source="").order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pending), 500):
        for flag in Feedback.objects.filter(pk__in=pending[start:start + 500]).select_related("prediction__review"):
            backfill_one(Feedback, flag)
    counts = Feedback.objects.values("source").annotate(
        flags=Count("id"), approved=Count("id", filter=Q(status="approved")), rejected=Count("id", filter=Q(status="rejected")))
    for row in counts:
        FeedbackSource.objects.update_or_create(
            source=row["source"], defaults={"flags": row["flags"], "approved": row["approved"], "rejected": row["rejected"]})


def backfill_one(Feedback, flag) -> None:
    if flag.user_id:
        source = f"user:{flag.user_id}"
    elif flag.client_hash:
        source = f"client:{flag.client_hash}"
    else:
        source = flag.reporter
    text_hash = text_fingerprint(flag.prediction.review.text)
    fields = {"source": source, "text_hash": text_hash}
    if flag.status == "approved" and flag.training_run_id is None:
        # Held-out membership was a public hash of the id; it is now keyed with the secret.
        fields["is_holdout"] = is_holdout(text_hash, conf.gate.holdout_share, key=holdout_key(text_hash))
    Feedback.objects.filter(pk=flag.pk).update(**fields)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0009_feedback_sources")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
