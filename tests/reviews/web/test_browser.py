"""The website in a real browser: Debian's Chromium driven by Playwright (sync API) against a live server.

`make test` installs both (Chromium from apt, Playwright from requirements-test.txt); no browser is
ever downloaded. Screenshots of the home, review and dashboard pages go to test-artifacts/screenshots/.
"""

import os
import re
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported by the `browser_page` fixture as a failure, never as a skip
    expect = sync_playwright = None

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    # The network is closed here: without these Chromium keeps trying to reach Google's services.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
INSTALL_HINT = (
    "The browser test needs Playwright for Python and Debian's Chromium. `make test` installs both; by hand:\n"
    "  .venv/bin/pip install -r requirements-test.txt      # playwright\n"
    "  apt-get update && apt-get install -y chromium        # /usr/bin/chromium, as root\n"
    "Do not run `playwright install`: the test uses the system Chromium and downloads no browser."
)
REVIEW = "A superb film with a wonderful cast; I loved the moving story and the brilliant ending."
COMMENT = "The reviewer is being sarcastic here."


@pytest.fixture
def live_model(tiny_versions, transactional_db, settings):
    """The first tiny version registered (and so active) in the live server's database."""
    from reviews import predictor
    from reviews.services.model_versions import model_version_register

    store, versions = tiny_versions
    # The live server runs in a thread of this process, so it reads these very settings and predictor.
    settings.SENTIMENT_MODEL_STORE = store
    predictor.reset()
    row = model_version_register(version_id=versions[0].id)
    yield row
    predictor.reset()


@pytest.fixture
def browser_page(live_server, monkeypatch):
    """A fresh page in headless Chromium; fails (never skips) with install steps when a piece is missing."""
    if sync_playwright is None:
        pytest.fail(f"Playwright is not installed.\n{INSTALL_HINT}", pytrace=False)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing.\n{INSTALL_HINT}", pytrace=False)
    # Playwright's sync API runs its own asyncio loop in this thread (switching to it through
    # greenlets), so while it is open Django sees "a running event loop" here and refuses the ORM
    # calls of the test body with SynchronousOnlyOperation. Nothing here is really asynchronous:
    # the ORM and Playwright take turns in one thread, and the live server answers from its own
    # thread. monkeypatch limits the escape hatch to this test.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            # While Playwright's loop runs, Django keeps the test body's database connection in
            # that loop's context, not the thread's: close it here, or it outlives the test and
            # PostgreSQL refuses to drop the test database at the end of the session.
            from django.db import connections

            connections.close_all()
            browser.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def test_classify_flag_and_approve_in_a_real_browser(live_server, live_model, staff, browser_page):
    """A visitor classifies and flags a review; staff approve the flag in the admin; the dashboard counts change."""
    from reviews.models import Feedback

    page = browser_page
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    failures = []
    page.on("response", lambda response: response.status >= 400 and failures.append(f"{response.status} {response.url}"))

    # A visitor pastes a review and classifies it.
    page.goto("/")
    expect(page.get_by_role("heading", name="What does this review say?")).to_be_visible()
    expect(page.locator("#text-help")).to_contain_text("Up to 20,000 characters")
    page.get_by_label("Movie review").fill(REVIEW)
    screenshot(page, "home")
    page.get_by_role("button", name="Classify").click()

    # The review page shows the label, the confidence and the model version.
    page.wait_for_url(re.compile(r"/reviews/\d+/$"), timeout=60_000)
    verdict = page.locator(".prediction .label-badge")
    expect(verdict).to_have_text(re.compile(r"^(Positive|Negative)$"))
    expect(page.locator(".prediction")).to_contain_text(re.compile(r"Confidence \d+%"))
    expect(page.locator(".prediction")).to_contain_text(live_model.id)
    expect(page.get_by_role("meter", name="Confidence")).to_be_visible()
    expect(page.locator(".review-text")).to_have_text(REVIEW)

    # The model got it wrong: flag it with the other label and a comment.
    other = "Negative" if verdict.inner_text().strip() == "Positive" else "Positive"
    page.get_by_label(other, exact=True).check()
    page.get_by_label("Comment (optional)").fill(COMMENT)
    page.get_by_role("button", name="Flag as wrong").click()
    expect(page.locator(".messages")).to_contain_text("your correction was sent to the reviewers")
    expect(page.locator("#flag-title + p")).to_contain_text(f"You flagged this prediction as {other.lower()}")
    expect(page.locator(".status-pending")).to_have_text("Pending")
    screenshot(page, "review")

    # Staff sign in through the admin login page and see one pending flag on the dashboard.
    page.goto("/admin/login/?next=/dashboard/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("pw-staff-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    expect(page.locator("#pending-count")).to_have_text("1")
    expect(page.locator("#approved-count")).to_have_text("0")

    # They approve the flag with the admin's bulk action.
    page.goto("/admin/reviews/feedback/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".field-corrected_label")).to_have_text(other)
    rows.first.locator("input[name=_selected_action]").check()
    page.locator("select[name=action]").select_option(label="Approve selected flags (the model may learn from them)")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("Approved 1 flag(s).")
    expect(rows.first.locator(".field-status")).to_have_text("Approved")

    # The dashboard counts move: one approved, none pending.
    page.goto("/dashboard/")
    expect(page.locator("#pending-count")).to_have_text("0")
    expect(page.locator("#approved-count")).to_have_text("1")
    # The confidence histogram's bar for the one prediction is drawn at its full height (a site-wide
    # .bar rule once squashed every bar to 12 pixels).
    bars = page.locator("svg rect.histogram-bar").all()
    tallest = max(bars, key=lambda bar: float(bar.get_attribute("height")))
    assert tallest.bounding_box()["height"] > 0.5 * float(tallest.get_attribute("height")) > 50
    screenshot(page, "dashboard")

    feedback = Feedback.objects.get()
    assert feedback.status == Feedback.Status.APPROVED and feedback.reviewed_by == staff
    assert feedback.comment == COMMENT
    # Every page and asset came from our server, and none of them failed.
    assert not failures
    assert all(url.startswith(live_server.url) or url.startswith("data:") for url in requests), requests


QUEUE_TEXTS = [f"Review {i}: " + text for i, text in enumerate([
    "the pacing dragged but the final act almost made up for it", "a warm and funny film about a family",
    "dull, predictable and far too long", "the lead is brilliant; the script is not",
    "i wanted to like it more than i did", "an honest little film that knows what it is",
    "noisy, empty spectacle with no heart", "clever dialogue and a cast clearly having fun",
    "it is fine, nothing more, nothing less", "the twist was obvious from the first scene",
    "gorgeous to look at and moving at the end", "a sequel nobody needed"])]


def test_a_moderator_labels_ten_items_with_the_keyboard_exports_and_audits(live_server, live_model, staff,
                                                                            browser_page, tmp_path):
    """Sign in, open "Needs a label", label ten items with keys only (n, p and j), see them as
    approved corrections, export them as a Hugging Face dataset that load_from_disk reads back,
    and find every label in the audit trail."""
    from datasets import load_from_disk
    from django.core.management import call_command

    from reviews.models import AuditEvent, Feedback
    from reviews.services.reviews import review_submit
    from reviews.worker.moderation import score_queue

    for i, text in enumerate(QUEUE_TEXTS):
        review_submit(text=text, session_key=f"visitor-{i}")
    assert score_queue() == len(QUEUE_TEXTS)

    page = browser_page
    failures = []
    page.on("response", lambda response: response.status >= 400 and failures.append(f"{response.status} {response.url}"))
    page.goto("/admin/login/?next=/queue/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("pw-staff-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/queue/$"))
    expect(page.get_by_role("heading", name="Needs a label")).to_be_visible()
    expect(page.locator("#shortcuts")).to_contain_text("n negative")
    expect(page.locator("#queue-size")).to_contain_text(f"{len(QUEUE_TEXTS)} texts waiting")
    screenshot(page, "queue")

    keys = ["n", "p"] * 5
    for done, key in enumerate(keys, start=1):
        moved = None
        if done == 3:  # move down one item first: the highlighted item is the one labelled
            first, second = page.locator(".queue-item").nth(0), page.locator(".queue-item").nth(1)
            page.keyboard.press("j")
            expect(second).to_have_class(re.compile(r"\bcurrent\b"))
            expect(first).not_to_have_class(re.compile(r"\bcurrent\b"))
            moved = first.get_attribute("data-id"), second.get_attribute("data-id")
        page.keyboard.press(key)
        expect(page.locator("#queue-size")).to_contain_text(f"{len(QUEUE_TEXTS) - done} text")
        expect(page.locator(".messages")).to_contain_text("Labelled #")
        if moved:  # the second item was labelled; the first still waits
            expect(page.locator(".messages")).to_contain_text(f"Labelled #{moved[1]} ")
            expect(page.locator(f"#item-{moved[0]}")).to_be_visible()

    labels = Feedback.objects.filter(kind=Feedback.Kind.LABEL).order_by("pk")
    assert [f.corrected_label for f in labels] == ["negative" if k == "n" else "positive" for k in keys]
    assert all(f.status == Feedback.Status.APPROVED and f.trusted and f.reviewed_by == staff for f in labels)

    # The admin lists them as approved labels.
    page.goto("/admin/reviews/feedback/?status__exact=approved&kind__exact=label")
    expect(page.locator("#result_list tbody tr")).to_have_count(10)

    # Exported as a Hugging Face dataset, read back.
    out = tmp_path / "labels-hf"
    call_command("export_feedback", "--format", "hf", "--output", str(out), "--status", "approved")
    exported = load_from_disk(str(out))
    names = exported.features["corrected_label"].int2str(exported["corrected_label"])
    assert len(exported) == 10 and sorted(names) == sorted(f.corrected_label for f in labels)
    assert set(exported["kind"]) == {"label"}

    # Every label is in the audit trail, in the admin too.
    assert AuditEvent.objects.filter(action="queue.label").count() == 10
    page.goto("/admin/reviews/auditevent/?action__exact=queue.label")
    expect(page.locator("#result_list tbody tr")).to_have_count(10)
    screenshot(page, "audit")
    assert not failures
