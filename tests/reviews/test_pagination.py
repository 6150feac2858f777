"""reviews/pagination.py: a count that stops at a limit, and pages that go on past it."""

import functools

import pytest
from django.core.paginator import EmptyPage

from reviews.models import Review
from reviews.pagination import CappedPaginator

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviews():
    Review.objects.bulk_create([Review(text=f"review {i}") for i in range(12)])
    return Review.objects.order_by("pk")


def test_the_count_stops_at_the_limit_and_the_pages_go_on(reviews):
    """12 rows, counted up to 5, 4 a page: the count says 5 (capped), and pages 1-3 hold every
    row, in order; page 3 is the last, page 4 does not exist."""
    paginator = CappedPaginator(reviews, 4, limit=5)
    assert (paginator.count, paginator.capped, paginator.num_pages) == (5, True, 2)
    pages = [paginator.page(n) for n in (1, 2, 3)]
    assert [r.text for page in pages for r in page] == [f"review {i}" for i in range(12)]
    assert [page.has_next() for page in pages] == [True, True, False]
    assert pages[2].has_previous() and pages[2].previous_page_number() == 2
    with pytest.raises(EmptyPage):
        paginator.page(4)


def test_under_the_limit_it_is_djangos_paginator(reviews):
    """Fewer rows than the limit: an exact count, not capped, the usual last page."""
    paginator = CappedPaginator(reviews, 5, limit=100)
    assert (paginator.count, paginator.capped, paginator.num_pages) == (12, False, 3)
    assert not paginator.page(3).has_next()
    with pytest.raises(EmptyPage):
        paginator.page(4)


def test_the_api_says_when_its_count_is_capped(staff_api, reviews, monkeypatch):
    """GET /api/v1/reviews: `count_capped` true past the limit, and `next` still leads on."""
    from reviews.api import base

    monkeypatch.setattr(base.Pagination, "django_paginator_class", functools.partial(CappedPaginator, limit=5))
    page = staff_api.get("/api/v1/reviews", {"page_size": 4, "page": 2}).json()
    assert (page["count"], page["count_capped"], len(page["results"])) == (5, True, 4)
    last = staff_api.get(page["next"]).json()
    assert len(last["results"]) == 4 and last["next"] is None


def test_the_count_goes_as_far_as_the_pager_needs(reviews):
    """Counted up to `pages_ahead` pages past the page asked for: 12 rows, 2 a page, one page
    ahead. Page 1 counts 4 rows (capped, and the pages go on), page 5 counts to the end."""
    first = CappedPaginator(reviews, 2, pages_ahead=1)
    page = first.page(1)
    assert (first.count, first.capped, page.has_next()) == (4, True, True)
    assert first.page(6).object_list[1].text == "review 11"  # past the count, the rows are still there
    later = CappedPaginator(reviews, 2, pages_ahead=1)
    page = later.page(5)
    assert (later.count, later.capped, later.num_pages, page.has_next()) == (12, False, 6, True)
    assert not later.page(6).has_next()


def test_the_count_asks_the_database_for_as_many_rows(reviews):
    """The count is one query with a LIMIT of the rows counted plus one, whatever the list holds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        CappedPaginator(reviews, 2, pages_ahead=2).page(2)
    counts = [q["sql"] for q in queries.captured_queries if "COUNT" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 9" in counts[0]
