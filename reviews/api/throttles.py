"""API throttling through the site's own limiter (reviews.ratelimit): a caller has one budget per
scope whether it uses the website or the API, and every web process counts against it."""

from rest_framework.exceptions import ValidationError
from rest_framework.throttling import BaseThrottle

from reviews import ratelimit
from reviews.conf import conf
from reviews.identity import visitor


class SharedLimiterThrottle(BaseThrottle):
    """Throttles views that name a `throttle_scope` ("predict" or "flag", rates in
    settings.SENTIMENT_RATES); a view's `throttle_cost(request)` says how many actions a request
    is (a batch of texts counts each text)."""

    def __init__(self):
        self.retry_after = None

    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "throttle_scope", None)
        if not scope:
            return True
        cost_of = getattr(view, "throttle_cost", None)
        cost = cost_of(request) if cost_of else 1
        who = visitor(request)
        decision = ratelimit.hit(scope, who.rate_key, authenticated=who.authenticated, cost=cost)
        if decision.over_budget:
            # A 429 would tell the client to wait and retry, which can never succeed.
            rate = conf.rate(scope, authenticated=who.authenticated)
            raise ValidationError(
                f"This batch of {cost} exceeds your rate budget for {scope} ({rate}): it can never pass. "
                f"Send at most {decision.limit} per request.",
                code="batch_over_budget",
            )
        self.retry_after = decision.retry_after
        return decision.allowed

    def wait(self):
        return self.retry_after
