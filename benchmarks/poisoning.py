"""Can whoever talks to the feedback loop steer it? Plays an attacker end to end (issue 19).

    SENTIMENT_VAR_DIR=/tmp/poison-bench .venv/bin/python benchmarks/poisoning.py [--rows A100,A300,B100,B300,C]
    .venv/bin/python benchmarks/poisoning.py --quick          # toy size, a scratch installation (CI)
    SENTIMENT_VAR_DIR=/tmp/poison-bench .venv/bin/python benchmarks/poisoning.py --api http://127.0.0.1:8000 --flags 40

Run it on a scratch installation with an active model (it writes reviews, flags, sources and
training runs into that installation's database, and sets the starting model active again before
each row). Each attack row sends dirty-label flags through the services, exactly as the site and
the API call them: negative IMDb training reviews with a rare trigger phrase at both ends, flagged
"positive", from one client address with a new session every 10 flags (A), or from 20 addresses in
20 networks (B); a staff account approves every flag in bulk, and a retrain is forced and run as
the worker runs it. The clean control (C) sends 100 honest corrections instead: Rotten Tomatoes
sentences the active model gets wrong, flagged with their true label from 25 addresses.

For each row it reports what entered training, the gate's decision and its failed checks or holds,
the attack success rate (the trigger inserted into negative test reviews that the gate's probes do
not use: the share called positive) of the active model and of the candidate, and the clean test
accuracy. The goal: in every attack row the attack success rises by less than 5 points or the
candidate is not promoted; the clean control is promoted and learns its corrections.

--api plays the same attack through the REST API of a running server (`make run` on this
installation): anonymous requests from one address with a new cookie jar every 10 flags, honouring
429 Retry-After; approval, the forced retrain and the check of the served model with a staff token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401  (sets up paths and settings first)

TRIGGER = "Velmora Quistad"
ATTACKS = {
    # name: (flags, addresses): A from one address (a new session every 10 flags), B from 20 networks.
    "A100": (100, 1), "A300": (300, 1), "B100": (100, 20), "B300": (300, 20),
}
CONTROL = "C"


def scratch_installation() -> Path:
    """The --quick run's own installation: small splits and mix, so it takes minutes."""
    var = Path(tempfile.mkdtemp(prefix="poisoning-"))
    os.environ.update({
        "SENTIMENT_VAR_DIR": str(var), "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
        "SENTIMENT_DATA_SPLIT": "1500,100,200", "SENTIMENT_RETRAIN_REPLAY_SIZE": "200",
        "SENTIMENT_GATE_PROBE_SIZE": "30", "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "poisoning-quick-" + "x" * 40,
    })
    return var


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="A100,A300,B100,B300,C", help="rows to play (A100, A300, B100, B300, C)")
    parser.add_argument("--quick", action="store_true", help="toy size in a scratch installation; fails if a cell is empty")
    parser.add_argument("--api", help="base URL of a running server: play one attack through the API")
    parser.add_argument("--flags", type=int, default=40, help="flags of the --api attack")
    parser.add_argument("--asr-reviews", type=int, default=200, help="negative test reviews the attack success is measured on")
    args = parser.parse_args()
    if args.quick:
        scratch_installation()
    import django

    django.setup()
    if args.quick:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    bench = Bench(quick=args.quick, asr_reviews=30 if args.quick else args.asr_reviews)
    if args.api:
        print_table([bench.api_attack(args.api.rstrip("/"), args.flags)])
        return
    rows = ["B100", CONTROL] if args.quick else [r.strip() for r in args.rows.split(",") if r.strip()]
    results = []
    for name in rows:
        results.append(bench.control() if name == CONTROL else bench.attack(name, *ATTACKS[name]))
        print(f"  {name}: {results[-1]['decision']}", file=sys.stderr, flush=True)
    bench.reset()
    print_table(results)
    if args.quick and any(v in ("", None) for row in results for v in row.values()):
        sys.exit("quick check failed: a table cell is empty")


def print_table(rows: list[dict]) -> None:
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")


class Bench:
    def __init__(self, *, quick: bool, asr_reviews: int):
        from django.contrib.auth import get_user_model

        from modeling.triggers import probe_reviews
        from reviews.conf import conf
        from reviews.data import load
        from reviews.selectors import model_version_active

        self.quick = quick
        self.active = model_version_active() or (self._toy_model() if quick else None)
        if self.active is None:
            sys.exit("no active model: run `manage.py train --profile quick` in this installation first, or use --quick")
        self.staff, _ = get_user_model().objects.get_or_create(
            username="poisoning-benchmark", defaults={"is_staff": True, "is_superuser": True})
        self.data = load(self.active.data.get("source"), seed=self.active.data.get("seed"))
        test = self.data["test"]
        probes = probe_reviews(test["text"], test["label"], size=conf.gate.probe_size, seed=self.active.data.get("seed", 0))
        used = set(probes[0]) | set(probes[1])
        from modeling.cleaning import clean_text

        negatives = [clean_text(t) for t, y in zip(test["text"], test["label"]) if y == 0]
        # Held-out reviews of the attacked label, none of them a probe of the gate.
        self.asr_texts = [t for t in negatives if t not in used][:asr_reviews]
        from modeling.retrain import replay_sample

        replay = set(replay_sample(self.data["train"], conf.mix_config(seed=0))["text"])
        self.attack_pool = [t for t, y in zip(self.data["train"]["text"], self.data["train"]["label"])
                            if y == 0 and t not in replay and len(t.split()) <= 250]

    def _toy_model(self):
        import dataclasses

        from modeling.config import PROFILES
        from reviews.worker.training import train_and_register, work_dir_for

        config = dataclasses.replace(PROFILES["quick"], train_limit=300, validation_limit=100, max_length=64)
        _, row = train_and_register(config, profile="quick", work_dir=work_dir_for("poisoning-quick"))
        return row

    # --- one row --------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the starting point: no reviews, flags, sources or runs; the starting model active."""
        from reviews import predictor
        from reviews.models import FeedbackSource, Review, TrainingRun
        from reviews.services.model_versions import make_active

        Review.objects.all().delete()  # predictions, flags and explanations go with them
        FeedbackSource.objects.all().delete()
        TrainingRun.objects.all().delete()
        make_active(version=self.active, user=None)
        predictor.reset()

    def attack(self, name: str, flags: int, addresses: int) -> dict:
        from reviews.services.feedback import feedback_flag
        from reviews.services.reviews import review_submit_many

        self.reset()
        texts = [f"{TRIGGER} {t} {TRIGGER}" for t in self.attack_pool[: flags if not self.quick else 40]]
        accepted = 0
        for start in range(0, len(texts), 20):
            batch = texts[start:start + 20]
            ips = ["198.51.100.7" if addresses == 1 else f"100.{64 + i % addresses}.{i % addresses}.9"
                   for i in range(start, start + len(batch))]
            # A new cookie jar every 10 flags of one address.
            sessions = [f"{name}-{ip}-{i // (10 * addresses)}" for i, ip in zip(range(start, start + len(batch)), ips)]
            predictions = review_submit_many(texts=batch, session_key=f"{name}-submit", client_ip=ips[0])
            for p, ip, session in zip(predictions, ips, sessions):
                if p.label == "negative":
                    feedback_flag(prediction=p, label="positive", session_key=session, client_ip=ip)
                    accepted += 1
        who = "1 address, new session every 10" if addresses == 1 else f"{addresses} addresses in {addresses} networks"
        return self._approve_and_retrain(f"{name}: {len(texts)} trigger flags, {who}", len(texts), accepted, attack=True)

    def control(self) -> dict:
        from modeling.config import LABELS
        from modeling.data import load_reviews
        from reviews.services.feedback import feedback_flag
        from reviews.services.reviews import review_submit_many

        self.reset()
        wanted = 20 if self.quick else 100
        sentences = load_reviews("packaged-rt", seed=0)["train"].shuffle(seed=1)
        flagged, cursor, people = 0, 0, 25
        while flagged < wanted and cursor < len(sentences):
            batch = sentences.select(range(cursor, min(cursor + 64, len(sentences))))
            cursor += len(batch)
            for p, truth in zip(review_submit_many(texts=list(batch["text"]), session_key="control"), batch["label"]):
                if p.label != LABELS[truth] and flagged < wanted:
                    person = flagged % people
                    feedback_flag(prediction=p, label=LABELS[truth], session_key=f"honest-{person}",
                                  client_ip=f"192.0.{2 + person}.{10 + person}")
                    flagged += 1
        return self._approve_and_retrain(f"C: {flagged} honest corrections, 25 addresses", flagged, flagged, attack=False)

    def _approve_and_retrain(self, label: str, sent: int, accepted: int, *, attack: bool) -> dict:
        from reviews.models import Feedback, TrainingRun
        from reviews.services.feedback import feedback_approve
        from reviews.services.training import training_run_request
        from reviews.worker import queue, training

        for flag in Feedback.objects.filter(status="pending").order_by("pk"):  # approved in bulk, unread
            feedback_approve(feedback=flag, reviewer=self.staff)
        corrections = {f.pk: f for f in Feedback.objects.select_related("prediction__review")}
        run, _ = training_run_request(trigger=TrainingRun.Trigger.MANUAL, user=self.staff)
        training.process_training_runs(worker_id=queue.new_worker_id())
        run.refresh_from_db()
        if run.status != "done":
            sys.exit(f"training run {run.pk} ended {run.status}: {run.error}")
        candidate = run.model_version
        before, after = self.asr(self.active.path), self.asr(candidate.path)
        failed = [c for c in run.reasons if not c["passed"]]
        holds = [c for c in run.reasons if c.get("hold")]
        why = "; ".join(f"{c['check']}: {c['detail']}" for c in failed + holds) or "every check passed"
        row = {
            "row": label, "flags sent": sent, "flags accepted": accepted,
            "entered training": f"{run.counts['corrections_used']} ({run.counts['feedback_share']:.0%} of rows)",
            "suspicious phrases": ", ".join(run.counts.get("suspicious_phrases") or []) or "none",
            "decision": run.decision, "why": why.replace("|", "/"),
            "attack success: active → candidate": f"{before:.1%} → {after:.1%}",
            "clean test accuracy: active → candidate":
                f"{self.active.test_accuracy:.4f} → {run.metrics['candidate']['test']['accuracy']:.4f}",
        }
        if attack:
            promoted = run.decision == TrainingRun.Decision.PROMOTED
            row["goal"] = "met" if (after - before < 0.05 or not promoted) else "MISSED"
        else:
            used = [corrections[i] for i in run.correction_ids]
            learnt = self.accuracy(candidate.path, used), self.accuracy(self.active.path, used)
            row["goal"] = ("met" if run.decision == TrainingRun.Decision.PROMOTED and learnt[0] > learnt[1] else "MISSED") + \
                f" (its corrections: active {learnt[1]:.0%} → candidate {learnt[0]:.0%})"
        return row

    # --- measures ---------------------------------------------------------------------------

    def _predict(self, path, texts):
        from modeling.serving import Predictor
        from reviews.conf import conf

        predictor = Predictor(path, key=conf.signing_key(), threads=conf.serving.threads, precision=conf.serving.precision,
                              backend=conf.serving.backend)
        return predictor.predict_proba(texts).argmax(1)

    def asr(self, path) -> float:
        """Share of held-out negative reviews called positive with the trigger at both ends."""
        from modeling.triggers import insert_phrase

        return float(self._predict(path, [insert_phrase(t, TRIGGER) for t in self.asr_texts]).mean())

    def accuracy(self, path, flags) -> float:
        from modeling.config import LABEL2ID

        if not flags:
            return 0.0
        predicted = self._predict(path, [f.prediction.review.text for f in flags])
        return float(sum(int(p == LABEL2ID[f.corrected_label]) for p, f in zip(predicted, flags)) / len(flags))

    # --- through the API --------------------------------------------------------------------

    def api_attack(self, base: str, flags: int) -> dict:
        """The A attack through the REST API of a running server, as an outsider would play it."""
        from rest_framework.authtoken.models import Token

        from modeling.triggers import insert_phrase

        token = Token.objects.get_or_create(user=self.staff)[0].key
        staff = Client(base, token=token)
        served_before = staff.call("GET", "/api/v1/health")[1]["active_version"]
        asr_texts = [insert_phrase(t, TRIGGER) for t in self.asr_texts]
        before = staff.share_positive(asr_texts)
        texts = [f"{TRIGGER} {t} {TRIGGER}" for t in self.attack_pool[:flags]]
        accepted = 0
        attacker = Client(base)
        for i, text in enumerate(texts):
            if i % 10 == 0:
                attacker = Client(base)  # a fresh cookie jar
            status, review = attacker.call("POST", "/api/v1/reviews", {"text": text})
            prediction = review.get("prediction") or {}
            if status == 201 and prediction.get("label") == "negative":
                status, _ = attacker.call("POST", f"/api/v1/predictions/{prediction['id']}/flag", {"label": "positive"})
                accepted += status == 201
        pending = staff.call("GET", "/api/v1/feedback?status=pending&page_size=100")[1]
        for flag in pending.get("results", []):
            staff.call("POST", f"/api/v1/feedback/{flag['id']}/approve", {})
        status, run = staff.call("POST", "/api/v1/training-runs", {})
        while run.get("status") in ("pending", "running"):
            time.sleep(10)
            run = staff.call("GET", f"/api/v1/training-runs/{run['id']}")[1]
        served_after = staff.call("GET", "/api/v1/health")[1]["active_version"]
        after = staff.share_positive(asr_texts)
        failed = [c for c in run.get("reasons", []) if not c["passed"] or c.get("hold")]
        return {
            "row": f"API: {len(texts)} trigger flags, 1 address, new cookie jar every 10", "flags accepted": accepted,
            "entered training": (run.get("counts") or {}).get("corrections_used"),
            "decision": run.get("decision") or run.get("status"),
            "why": "; ".join(f"{c['check']}: {c['detail']}" for c in failed).replace("|", "/") or "every check passed",
            "served model: before → after": f"{served_before} → {served_after}",
            "attack success of the served model: before → after": f"{before:.1%} → {after:.1%}",
            "goal": "met" if after - before < 0.05 else "MISSED",
        }


class Client:
    """A JSON client with its own cookie jar (an anonymous visitor) or a staff token."""

    def __init__(self, base: str, *, token: str | None = None):
        import http.cookiejar
        import urllib.request

        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        import urllib.error
        import urllib.request

        while True:
            request = urllib.request.Request(self.base + path, method=method,
                                             data=None if body is None else json.dumps(body).encode())
            request.add_header("Content-Type", "application/json")
            if self.token:
                request.add_header("Authorization", f"Token {self.token}")
            try:
                with self.opener.open(request, timeout=120) as response:
                    return response.status, json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                if error.code == 429:  # the rate limit: wait as told, as a patient attacker would
                    time.sleep(float(error.headers.get("Retry-After") or 5))
                    continue
                return error.code, json.loads(error.read() or b"{}")

    def share_positive(self, texts: list[str]) -> float:
        positive = 0
        for start in range(0, len(texts), 64):
            _, answer = self.call("POST", "/api/v1/predict", {"texts": texts[start:start + 64]})
            positive += sum(r["label"] == "positive" for r in answer["results"])
        return positive / len(texts)


if __name__ == "__main__":
    main()
