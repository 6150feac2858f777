"""/api/v1/reviews: the caller's reviews (list, filter, one), and classifying and keeping one."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from reviews import selectors
from reviews.api import examples as docs
from reviews.api.base import ApiView, PageQuerySerializer, found, validated, validated_filters
from reviews.api.serializers import (
    ReviewDetailOutputSerializer,
    ReviewOutputSerializer,
    ReviewTextField,
    StrictCharField,
    label_field,
    page_serializer,
)
from reviews.identity import visitor
from reviews.models import Source
from reviews.services.reviews import review_submit


class ReviewListCreateApi(ApiView):
    permission_classes = [AllowAny]
    throttle_scope = "predict"

    class FilterSerializer(PageQuerySerializer):
        label = label_field(required=False, help_text="The latest prediction's label.")
        flagged = serializers.BooleanField(required=False, allow_null=True, default=None,
                                           help_text="Only reviews with (true) or without (false) a flag.")
        model_version = StrictCharField(required=False, max_length=64, help_text="Predicted by this version.")
        search = StrictCharField(required=False, max_length=200, help_text="Text contains this (case-insensitive).")
        created_from = serializers.DateField(required=False, help_text="Created on or after this day (YYYY-MM-DD).")
        created_to = serializers.DateField(required=False, help_text="Created on or before this day (YYYY-MM-DD).")

        class Meta:
            ref_name = "ReviewFilter"

    class InputSerializer(serializers.Serializer):
        text = ReviewTextField()

        class Meta:
            ref_name = "ReviewCreateRequest"

    def get_throttles(self):
        # Reading is free; classifying counts against the predict rate, as on the website.
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(
        operation_id="reviews_list",
        summary="List reviews",
        description="Staff see every review, a signed-in user their own, an anonymous caller those of its session.",
        parameters=[FilterSerializer],
        responses={200: page_serializer(ReviewOutputSerializer, "ReviewPage"), **docs.errors(*docs.ANY, 404)},
        examples=docs.REVIEW_LIST_EXAMPLES,
        tags=["reviews"],
    )
    def get(self, request):
        filters = validated_filters(self.FilterSerializer, request)
        reviews = selectors.review_list(**visitor(request).scope(), **filters)
        return self.paginated(reviews, ReviewOutputSerializer)

    @extend_schema(
        operation_id="reviews_create",
        summary="Classify and store a review",
        request=InputSerializer,
        responses={201: ReviewDetailOutputSerializer, **docs.errors(*docs.WRITE, 429, 503)},
        parameters=[docs.RETRY_AFTER],
        examples=docs.REVIEW_CREATE_EXAMPLES,
        tags=["reviews"],
    )
    def post(self, request):
        data = validated(self.InputSerializer, request.data)
        who = visitor(request, create_session=True)
        prediction = review_submit(text=data["text"], source=Source.API, **who.as_kwargs())
        body = ReviewDetailOutputSerializer(prediction.review).data
        location = f"{request.path}/{prediction.review_id}"
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})


class ReviewDetailApi(ApiView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="reviews_retrieve",
        summary="One review with its predictions and flags",
        responses={200: ReviewDetailOutputSerializer, **docs.errors(*docs.ANY, 404)},
        examples=docs.REVIEW_DETAIL_EXAMPLES,
        tags=["reviews"],
    )
    def get(self, request, pk: int):
        review = found(selectors.review_get(pk=pk, **visitor(request).scope()), "No such review.")
        return Response(ReviewDetailOutputSerializer(review).data)
