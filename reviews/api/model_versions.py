"""/api/v1/models: model versions (staff), and activating one (also the way to roll back)."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from reviews import selectors
from reviews.api import examples as docs
from reviews.api.base import ApiView, found
from reviews.api.serializers import ModelVersionDetailOutputSerializer, ModelVersionOutputSerializer
from reviews.models import ModelVersion
from reviews.services.model_versions import model_version_activate


class ModelListApi(ApiView):
    required_permissions = {"GET": ["reviews.view_modelversion"]}

    @extend_schema(
        operation_id="models_list",
        summary="Model versions, newest first (staff)",
        responses={200: ModelVersionOutputSerializer(many=True), **docs.errors(*docs.ANY)},
        examples=docs.MODEL_LIST_EXAMPLES,
        tags=["models"],
    )
    def get(self, request):
        return Response(ModelVersionOutputSerializer(selectors.model_version_list(), many=True).data)


def _version_or_404(pk: str) -> ModelVersion:
    return found(selectors.model_version_get(pk=pk), "No such model version.")


class ModelDetailApi(ApiView):
    required_permissions = {"GET": ["reviews.view_modelversion"]}

    @extend_schema(
        operation_id="models_retrieve",
        summary="One model version with its metrics and recipe (staff)",
        responses={200: ModelVersionDetailOutputSerializer, **docs.errors(*docs.ANY, 404)},
        examples=docs.MODEL_DETAIL_EXAMPLES,
        tags=["models"],
    )
    def get(self, request, pk: str):
        return Response(ModelVersionDetailOutputSerializer(_version_or_404(pk)).data)


class ModelActivateApi(ApiView):
    required_permissions = {"POST": ["reviews.manage_model_versions"]}

    @extend_schema(
        operation_id="models_activate",
        summary="Make a version the active one (staff); also the way to roll back",
        description="A version whose files fail verification is refused (400) and marked rejected.",
        request=None,
        responses={200: ModelVersionDetailOutputSerializer, **docs.errors(*docs.WRITE, 404)},
        examples=docs.ACTIVATE_EXAMPLES,
        tags=["models"],
    )
    def post(self, request, pk: str):
        version = model_version_activate(version=_version_or_404(pk), user=request.user)
        return Response(ModelVersionDetailOutputSerializer(version).data)
