"""The placements, contracts and API-key endpoints. Views validate input, call one
service or selector, and render; all rules live in services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contracts import selectors, services
from contracts.models import ContractVersion, PartnerApiKey, Placement
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.models import User
from employees.selectors import employee_list


def _person(request: Request) -> User:
    """Writes are done by people; a partner system's API key may only read here."""
    if not isinstance(request.user, User):
        raise PermissionDenied("This action needs a person signed in; API keys may only read it.")
    return request.user


# --- serializers ------------------------------------------------------------------------


class ContractVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username")
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)

    class Meta:
        model = ContractVersion
        fields = ["number", "status", "effective_from", "terms", "created_by", "created_at",
                  "proposed_at", "decided_by", "decided_at", "decision_note"]


class ContractSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    placement = serializers.IntegerField(source="placement_id")
    partner = serializers.CharField(source="placement.partner.slug")
    employee = serializers.CharField(source="placement.employee.slug")
    currency = serializers.CharField()
    versions = ContractVersionSerializer(many=True)


class PlacementSerializer(serializers.ModelSerializer):
    partner = serializers.CharField(source="partner.slug")
    employee = serializers.CharField(source="employee.slug")
    employee_name = serializers.CharField(source="employee.name")
    requested_by = serializers.CharField(source="requested_by.username")
    contract = serializers.SerializerMethodField()

    class Meta:
        model = Placement
        fields = ["id", "partner", "employee", "employee_name", "status", "requested_by",
                  "request_note", "created_at", "updated_at", "contract"]

    def get_contract(self, placement: Placement) -> int | None:
        return placement.contract.pk if hasattr(placement, "contract") else None


class PlacementRequestInput(serializers.Serializer):
    employee = serializers.SlugField(help_text="The slug of a published digital employee.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ContractVersionInput(serializers.Serializer):
    terms = serializers.JSONField(help_text="Terms in the canonical shape of DESIGN.md §5a.")
    effective_from = serializers.DateField(help_text="The first day of a period (month).")


class ApiKeySerializer(serializers.ModelSerializer):
    partner = serializers.CharField(source="partner.slug")
    created_by = serializers.CharField(source="created_by.username")
    active = serializers.BooleanField(source="is_active")

    class Meta:
        model = PartnerApiKey
        fields = ["id", "partner", "name", "prefix", "created_by", "created_at", "last_used_at",
                  "revoked_at", "active"]


class ApiKeyCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=80)


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- placements -------------------------------------------------------------------------


class PlacementListApi(APIView):
    @extend_schema(
        summary="Placements you can see",
        parameters=[OpenApiParameter("status", str, enum=Placement.Status.values)],
        responses=PlacementSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in Placement.Status.values:
            # A mistyped filter must not look like "you have no placements".
            raise ValidationFailed(
                f"Unknown placement status {status!r}.",
                fields={"status": [f"must be one of {', '.join(Placement.Status.values)}; got {status!r}."]},
            )
        placements = selectors.placement_list(viewer=request.user, status=status)
        return Response({"results": PlacementSerializer(placements, many=True).data})

    @extend_schema(summary="Hire a digital employee (partner members)",
                   request=PlacementRequestInput, responses={201: PlacementSerializer})
    def post(self, request: Request) -> Response:
        actor = _person(request)
        data = _valid(PlacementRequestInput, request.data)
        # Look the employee up as the catalog shows it to this person: a partner member
        # must not learn from a 409 that an unpublished (draft or retired) employee exists.
        employee = employee_list(viewer=actor).filter(slug=data["employee"]).first()
        if employee is None:
            raise NotFound(f"No digital employee {data['employee']!r}.")
        placement = services.placement_request(actor=actor, employee=employee, note=data["note"])
        return Response(PlacementSerializer(placement).data, status=201)


class PlacementDetailApi(APIView):
    @extend_schema(summary="One placement", responses=PlacementSerializer)
    def get(self, request: Request, placement_id: int) -> Response:
        placement = selectors.placement_get(viewer=request.user, placement_id=placement_id)
        return Response(PlacementSerializer(placement).data)


PLACEMENT_ACTIONS = {
    "approve": services.placement_approve,
    "decline": services.placement_decline,
    "withdraw": services.placement_withdraw,
    "pause": services.placement_pause,
    "resume": services.placement_resume,
    "end": services.placement_end,
}


class PlacementActionApi(APIView):
    @extend_schema(
        operation_id="placements_transition",
        summary="Move a placement through its life cycle",
        description=(
            "approve/decline (account manager, from requested), withdraw (partner member, from "
            "requested), pause/resume (account manager), end (account manager or partner "
            "owner). decline, pause and end need a reason."
        ),
        parameters=[OpenApiParameter("action", str, OpenApiParameter.PATH,
                                     enum=list(PLACEMENT_ACTIONS))],
        request=ReasonInput, responses=PlacementSerializer,
    )
    def post(self, request: Request, placement_id: int, action: str) -> Response:
        actor = _person(request)
        service = PLACEMENT_ACTIONS.get(action)
        if service is None:
            raise NotFound(f"No placement action {action!r}; use one of {', '.join(PLACEMENT_ACTIONS)}.")
        placement = selectors.placement_get(viewer=actor, placement_id=placement_id)
        data = _valid(ReasonInput, request.data)
        placement = service(actor=actor, placement=placement, reason=data["reason"])
        placement.refresh_from_db()
        return Response(PlacementSerializer(placement).data)


# --- contracts --------------------------------------------------------------------------


class ContractListApi(APIView):
    @extend_schema(summary="Contracts you can see, with all their versions",
                   responses=ContractSerializer(many=True))
    def get(self, request: Request) -> Response:
        contracts = selectors.contract_list(viewer=request.user)
        return Response({"results": ContractSerializer(contracts, many=True).data})


class ContractDetailApi(APIView):
    @extend_schema(summary="One contract with its versions", responses=ContractSerializer)
    def get(self, request: Request, contract_id: int) -> Response:
        contract = selectors.contract_get(viewer=request.user, contract_id=contract_id)
        return Response(ContractSerializer(contract).data)


class ContractVersionListApi(APIView):
    @extend_schema(summary="Draft new terms (account managers)",
                   description="The first version or an amendment from a later period start.",
                   request=ContractVersionInput, responses={201: ContractVersionSerializer})
    def post(self, request: Request, contract_id: int) -> Response:
        actor = _person(request)
        contract = selectors.contract_get(viewer=actor, contract_id=contract_id)
        data = _valid(ContractVersionInput, request.data)
        version = services.contract_version_draft(
            actor=actor, placement=contract.placement, terms=data["terms"],
            effective_from=data["effective_from"],
        )
        return Response(ContractVersionSerializer(version).data, status=201)


class ContractVersionDetailApi(APIView):
    @extend_schema(summary="One version of a contract", responses=ContractVersionSerializer)
    def get(self, request: Request, contract_id: int, number: int) -> Response:
        version = selectors.contract_version_get(viewer=request.user, contract_id=contract_id, number=number)
        return Response(ContractVersionSerializer(version).data)

    @extend_schema(summary="Edit a draft (account managers)", request=ContractVersionInput,
                   responses=ContractVersionSerializer)
    def put(self, request: Request, contract_id: int, number: int) -> Response:
        actor = _person(request)
        version = selectors.contract_version_get(viewer=actor, contract_id=contract_id, number=number)
        data = _valid(ContractVersionInput, request.data)
        version = services.contract_version_update(
            actor=actor, version=version, terms=data["terms"], effective_from=data["effective_from"]
        )
        return Response(ContractVersionSerializer(version).data)


def _propose(*, actor: User, version: ContractVersion, reason: str) -> ContractVersion:
    return services.contract_version_propose(actor=actor, version=version)


def _accept(*, actor: User, version: ContractVersion, reason: str) -> ContractVersion:
    return services.contract_version_accept(actor=actor, version=version)


VERSION_ACTIONS = {
    "propose": _propose,
    "withdraw": services.contract_version_withdraw,
    "accept": _accept,
    "reject": services.contract_version_reject,
}


class ContractVersionActionApi(APIView):
    @extend_schema(
        operation_id="contracts_versions_decide",
        summary="Send, withdraw, accept or reject a version",
        description=(
            "propose (account manager: send a draft to the partner), withdraw (account "
            "manager), accept / reject (partner owner; reject needs a reason)."
        ),
        parameters=[OpenApiParameter("action", str, OpenApiParameter.PATH, enum=list(VERSION_ACTIONS))],
        request=ReasonInput, responses=ContractVersionSerializer,
    )
    def post(self, request: Request, contract_id: int, number: int, action: str) -> Response:
        actor = _person(request)
        service = VERSION_ACTIONS.get(action)
        if service is None:
            raise NotFound(f"No contract action {action!r}; use one of {', '.join(VERSION_ACTIONS)}.")
        version = selectors.contract_version_get(viewer=actor, contract_id=contract_id, number=number)
        data = _valid(ReasonInput, request.data)
        version = service(actor=actor, version=version, reason=data["reason"])
        return Response(ContractVersionSerializer(version).data)


# --- API keys ---------------------------------------------------------------------------


class ApiKeyListApi(APIView):
    @extend_schema(summary="Your organisation's API keys (never the keys themselves)",
                   responses=ApiKeySerializer(many=True))
    def get(self, request: Request) -> Response:
        actor = _person(request)
        return Response({"results": ApiKeySerializer(selectors.api_key_list(viewer=actor), many=True).data})

    @extend_schema(
        summary="Create an API key (partner owners); the key is in this response only",
        request=ApiKeyCreateInput,
        responses={201: inline_serializer("IssuedApiKey", {
            "key": serializers.CharField(), "api_key": ApiKeySerializer()})},
    )
    def post(self, request: Request) -> Response:
        actor = _person(request)
        partner_id = selectors.viewer_partner_id(actor)
        partner = selectors.partners_visible(viewer=actor).filter(pk=partner_id).first()
        if partner is None:
            raise PermissionDenied("Only a partner's owner can create its API keys.")
        data = _valid(ApiKeyCreateInput, request.data)
        issued = services.api_key_create(actor=actor, partner=partner, name=data["name"])
        return Response({"key": issued.secret, "api_key": ApiKeySerializer(issued.key).data}, status=201)


class ApiKeyRevokeApi(APIView):
    @extend_schema(summary="Revoke an API key (partner owners)", request=None, responses=ApiKeySerializer)
    def post(self, request: Request, key_id: int) -> Response:
        actor = _person(request)
        key = selectors.api_key_get(viewer=actor, key_id=key_id)
        key = services.api_key_revoke(actor=actor, key=key)
        return Response(ApiKeySerializer(key).data)


class MeApi(APIView):
    @extend_schema(summary="Who this request is authenticated as",
                   responses=inline_serializer("Me", {
                       "username": serializers.CharField(), "role": serializers.CharField(),
                       "partner": serializers.CharField(allow_null=True)}))
    def get(self, request: Request) -> Response:
        partner_id = selectors.viewer_partner_id(request.user)
        partner = selectors.partners_visible(viewer=request.user).filter(pk=partner_id).first()
        return Response({
            "username": request.user.username,
            "role": request.user.role,
            "partner": partner.slug if partner else None,
        })
