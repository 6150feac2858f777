"""Routed work: a training run may ask for a device; a worker's heartbeat says what it takes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("reviews", "0015_review_text_trigram")]

    operations = [
        migrations.AddField(
            model_name="trainingrun",
            name="device",
            field=models.CharField(blank=True, choices=[("", "Any worker"), ("cpu", "A CPU worker"),
                                                        ("cuda", "A CUDA (GPU) worker")], default="", max_length=8),
        ),
        migrations.AddField(model_name="workerheartbeat", name="queues", field=models.CharField(blank=True, max_length=100)),
        migrations.AddField(model_name="workerheartbeat", name="device", field=models.CharField(blank=True, max_length=8)),
        migrations.AddConstraint(
            model_name="trainingrun",
            constraint=models.CheckConstraint(condition=models.Q(device__in=["", "cpu", "cuda"]),
                                              name="training_run_device_valid"),
        ),
    ]
