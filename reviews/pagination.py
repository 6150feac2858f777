"""Pages of long lists (the review history, the API's lists) that stay fast at a million rows.

Counting every matching row is the slowest part of a page once a table is large: a COUNT over a
million reviews, or over every review whose text contains a common word, reads all of them to show
"page 1 of 50,000". The paginator here counts only as far as the pager needs: the rows up to
PAGES_AHEAD pages past the one asked for, and never more than COUNT_LIMIT (`SELECT COUNT(*) FROM
(... ORDER BY ... LIMIT n)`, the page's own order, so the database counts along the plan it uses
for the page). Beyond that the count says "at least n" (`capped`) and the pages go on for as long
as rows do, each one fetched as usual (ORDER BY ... LIMIT ... OFFSET). Counting costs about what
fetching a page ten pages further would: a filter that matches one review in thirty (flagged
ones) is counted in tens of milliseconds at a million reviews, where counting 10,000 of them took
a third of a second (docs/deployment.md).
"""

from __future__ import annotations

from django.core.paginator import EmptyPage, Page, Paginator
from django.utils.functional import cached_property

COUNT_LIMIT = 10_000
PAGES_AHEAD = 9


class CappedPage(Page):
    def has_next(self) -> bool:
        paginator = self.paginator
        if paginator.capped and self.number >= paginator.num_pages:
            start = self.number * paginator.per_page  # past the count: is there one more row?
            return paginator.object_list[start:start + 1].exists()
        return super().has_next()


class CappedPaginator(Paginator):
    """A Django paginator whose count stops `pages_ahead` pages past the page asked for, and at
    `limit` at most (then `capped` is True). `pages_ahead=None` counts up to `limit` whatever the page."""

    def __init__(self, object_list, per_page, *, limit: int = COUNT_LIMIT, pages_ahead: int | None = PAGES_AHEAD,
                 **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.limit = limit
        self.pages_ahead = pages_ahead
        self._asked = 1

    @cached_property
    def _count_to(self) -> int:
        if self.pages_ahead is None:
            return self.limit
        return min(self.limit, (self._asked + self.pages_ahead) * self.per_page)

    @cached_property
    def _counted(self) -> int:
        return self.object_list[: self._count_to + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, self._count_to)

    @property
    def capped(self) -> bool:
        """More rows match than were counted."""
        return self._counted > self._count_to

    def validate_number(self, number):
        try:  # the page asked for sets how far to count (the count is taken once, below)
            if "_counted" not in self.__dict__:
                self._asked = max(1, int(number))
        except (TypeError, ValueError):
            pass  # Django's own check below says what is wrong with it
        try:
            return super().validate_number(number)
        except EmptyPage:
            if self.capped and int(number) > self.num_pages:
                return int(number)  # past the counted rows: the page itself says whether it has any
            raise

    def page(self, number):
        number = self.validate_number(number)
        if not self.capped:
            return super().page(number)
        # Full pages throughout: Django's last page would stop at the (capped) count.
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom:bottom + self.per_page])
        if not rows:
            raise EmptyPage(self.error_messages["no_results"])
        return self._get_page(rows, number, self)

    def _get_page(self, *args, **kwargs):
        return CappedPage(*args, **kwargs)
