from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from employees.models import DigitalEmployee
from employees.selectors import employee_list


class EmployeeSerializer(serializers.ModelSerializer):
    class Meta:
        model = DigitalEmployee
        fields = [
            "slug",
            "name",
            "title",
            "persona",
            "resume",
            "skills",
            "languages",
            "industries",
            "built_by",
            "status",
            "published_at",
        ]


def _viewer(request: Request):
    # API-key callers are partner systems: they see what partner members see.
    return None if getattr(request.user, "api_partner_id", None) else request.user


class EmployeeListApi(APIView):
    @extend_schema(
        summary="The catalog of digital employees",
        parameters=[OpenApiParameter("skill", str), OpenApiParameter("industry", str)],
        responses=EmployeeSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        employees = employee_list(
            viewer=_viewer(request),
            skill=request.query_params.get("skill") or None,
            industry=request.query_params.get("industry") or None,
        )
        return Response({"results": EmployeeSerializer(employees, many=True).data})


class EmployeeDetailApi(APIView):
    @extend_schema(summary="One digital employee's profile", responses=EmployeeSerializer)
    def get(self, request: Request, slug: str) -> Response:
        employee = employee_list(viewer=_viewer(request)).filter(slug=slug).first()
        if employee is None:
            raise NotFound(_("No digital employee %(slug)r.") % {"slug": slug})
        return Response(EmployeeSerializer(employee).data)
