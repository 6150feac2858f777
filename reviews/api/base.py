"""What every endpoint shares: the view class (staff only unless it says otherwise), JSON always,
pagination, and validating input with a serializer."""

from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from reviews.api.permissions import StaffPermission
from reviews.pagination import CappedPaginator


class JsonAlways(DefaultContentNegotiation):
    """Answer JSON whatever the Accept header says: a script's odd Accept is not worth a 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class Pagination(PageNumberPagination):
    """Pages whose count stops a few pages past the one asked for (reviews.pagination; `count_capped`
    then true; the `next` links go on while rows do): counting a million rows is what made long
    lists slow."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    django_paginator_class = CappedPaginator

    def get_paginated_response(self, data):
        return Response({"count": self.page.paginator.count, "count_capped": self.page.paginator.capped,
                         "next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})


class PageQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(required=False, min_value=1, help_text="Page number, from 1.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=Pagination.max_page_size,
                                         help_text=f"Items per page (default {Pagination.page_size}).")


class ApiView(APIView):
    # Staff only unless a view says otherwise: the safe default for a new endpoint. (A comment,
    # not a docstring: the schema would show a docstring as every endpoint's description.)
    content_negotiation_class = JsonAlways
    permission_classes = [StaffPermission]
    # {"GET": ["reviews.view_feedback"], ...}: what a staff caller must hold, per method.
    required_permissions: dict[str, list[str]] = {}

    def paginated(self, queryset, serializer_class):
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


def found(obj, message: str):
    """`obj`, or a 404 with `message` when the selector found nothing (or nothing the caller may see)."""
    if obj is None:
        raise NotFound(message)
    return obj


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def validated_filters(serializer_class, request) -> dict:
    """The query's filters, checked; the page parameters are checked too but left to Pagination."""
    filters = validated(serializer_class, request.query_params.dict())
    return {name: value for name, value in filters.items() if name not in PageQuerySerializer().fields}
