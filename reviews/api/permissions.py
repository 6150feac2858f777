"""Who may call a staff endpoint: Django permissions, the same ones the admin's actions check.

Kept apart from the views: DRF imports DEFAULT_PERMISSION_CLASSES while rest_framework.views is
being imported.
"""

from rest_framework.permissions import BasePermission


class StaffPermission(BasePermission):
    """Staff, holding the Django permissions the view names for the method in
    `required_permissions` (HEAD as GET; superusers hold every one)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        required = getattr(view, "required_permissions", {})
        method = "GET" if request.method == "HEAD" else request.method
        if method not in required:
            return bool(user.is_superuser)  # a method nobody listed: closed to all but superusers
        return user.has_perms(required[method])
