"""Pages of long lists (the review history, the API's lists) that stay fast at a million rows.

Counting every matching row is the slowest part of a page once a table is large: a COUNT over a
million reviews, or over every review whose text contains a common word, reads all of them to show
"page 1 of 50,000". The paginator here counts at most COUNT_LIMIT rows (`SELECT COUNT(*) FROM
(... LIMIT n)`); beyond that the count says "at least COUNT_LIMIT" (`capped`) and the pages go on
for as long as rows do, each one fetched as usual (ORDER BY ... LIMIT ... OFFSET).
"""

from __future__ import annotations

from django.core.paginator import EmptyPage, Page, Paginator
from django.utils.functional import cached_property

COUNT_LIMIT = 10_000


class CappedPage(Page):
    def has_next(self) -> bool:
        paginator = self.paginator
        if paginator.capped and self.number >= paginator.num_pages:
            start = self.number * paginator.per_page  # past the count: is there one more row?
            return paginator.object_list[start:start + 1].exists()
        return super().has_next()


class CappedPaginator(Paginator):
    """A Django paginator whose count stops at `limit` (then `capped` is True)."""

    def __init__(self, object_list, per_page, *, limit: int = COUNT_LIMIT, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.limit = limit

    @cached_property
    def _counted(self) -> int:
        return self.object_list[: self.limit + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.limit)

    @property
    def capped(self) -> bool:
        """More rows match than were counted."""
        return self._counted > self.limit

    def validate_number(self, number):
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
