"""A Content-Security-Policy header on every response that has none (settings.CONTENT_SECURITY_POLICY).

Django 5.2 has no CSP of its own, and the site needs one fixed policy: its scripts are all files
it serves (no inline script), so a header is all it takes.
"""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
