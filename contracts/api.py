"""The placements, contracts and API-key endpoints. Views validate input, call one
service or selector, and render; all rules live in services."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contracts import selectors, services
from contracts.models import (
    ContractVersion,
    Invitation,
    Partner,
    PartnerApiKey,
    PartnerMembership,
    Payee,
    PaymentProvider,
    Placement,
)
from core.api import validated
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.models import User
from core.permissions import IsFinance, api_person
from employees.models import Industry
from employees.selectors import employee_list

# --- serializers ------------------------------------------------------------------------


class ContractVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username")
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)

    class Meta:
        model = ContractVersion
        fields = [
            "number",
            "status",
            "effective_from",
            "terms",
            "created_by",
            "created_at",
            "proposed_at",
            "decided_by",
            "decided_at",
            "decision_note",
        ]


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
        fields = [
            "id",
            "partner",
            "employee",
            "employee_name",
            "status",
            "requested_by",
            "request_note",
            "created_at",
            "updated_at",
            "contract",
        ]

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
        fields = ["id", "partner", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at", "active"]


class ApiKeyCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=80)


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
                _("Unknown placement status %(status)r.") % {"status": status},
                fields={"status": [f"must be one of {', '.join(Placement.Status.values)}; got {status!r}."]},
            )
        placements = selectors.placement_list(viewer=request.user, status=status)
        return Response({"results": PlacementSerializer(placements, many=True).data})

    @extend_schema(
        summary="Hire a digital employee (partner members)",
        request=PlacementRequestInput,
        responses={201: PlacementSerializer},
    )
    def post(self, request: Request) -> Response:
        actor = api_person(request)
        data = validated(PlacementRequestInput, request.data)
        # Look the employee up as the catalog shows it to this person: a partner member
        # must not learn from a 409 that an unpublished (draft or retired) employee exists.
        employee = employee_list(viewer=actor).filter(slug=data["employee"]).first()
        if employee is None:
            raise NotFound(_("No digital employee %(data)r.") % {"data": data["employee"]})
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
        parameters=[OpenApiParameter("action", str, OpenApiParameter.PATH, enum=list(PLACEMENT_ACTIONS))],
        request=ReasonInput,
        responses=PlacementSerializer,
    )
    def post(self, request: Request, placement_id: int, action: str) -> Response:
        actor = api_person(request)
        service = PLACEMENT_ACTIONS.get(action)
        if service is None:
            raise NotFound(
                _("No placement action %(action)r; use one of %(join)s.")
                % {"action": action, "join": ", ".join(PLACEMENT_ACTIONS)}
            )
        placement = selectors.placement_get(viewer=actor, placement_id=placement_id)
        data = validated(ReasonInput, request.data)
        placement = service(actor=actor, placement=placement, reason=data["reason"])
        placement.refresh_from_db()
        return Response(PlacementSerializer(placement).data)


# --- contracts --------------------------------------------------------------------------


class ContractListApi(APIView):
    @extend_schema(summary="Contracts you can see, with all their versions", responses=ContractSerializer(many=True))
    def get(self, request: Request) -> Response:
        contracts = selectors.contract_list(viewer=request.user)
        return Response({"results": ContractSerializer(contracts, many=True).data})


class ContractDetailApi(APIView):
    @extend_schema(summary="One contract with its versions", responses=ContractSerializer)
    def get(self, request: Request, contract_id: int) -> Response:
        contract = selectors.contract_get(viewer=request.user, contract_id=contract_id)
        return Response(ContractSerializer(contract).data)


class ContractVersionListApi(APIView):
    @extend_schema(
        summary="Draft new terms (account managers)",
        description="The first version or an amendment from a later period start.",
        request=ContractVersionInput,
        responses={201: ContractVersionSerializer},
    )
    def post(self, request: Request, contract_id: int) -> Response:
        actor = api_person(request)
        contract = selectors.contract_get(viewer=actor, contract_id=contract_id)
        data = validated(ContractVersionInput, request.data)
        version = services.contract_version_draft(
            actor=actor,
            placement=contract.placement,
            terms=data["terms"],
            effective_from=data["effective_from"],
        )
        return Response(ContractVersionSerializer(version).data, status=201)


class ContractVersionDetailApi(APIView):
    @extend_schema(summary="One version of a contract", responses=ContractVersionSerializer)
    def get(self, request: Request, contract_id: int, number: int) -> Response:
        version = selectors.contract_version_get(viewer=request.user, contract_id=contract_id, number=number)
        return Response(ContractVersionSerializer(version).data)

    @extend_schema(
        summary="Edit a draft (account managers)", request=ContractVersionInput, responses=ContractVersionSerializer
    )
    def put(self, request: Request, contract_id: int, number: int) -> Response:
        actor = api_person(request)
        version = selectors.contract_version_get(viewer=actor, contract_id=contract_id, number=number)
        data = validated(ContractVersionInput, request.data)
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
        request=ReasonInput,
        responses=ContractVersionSerializer,
    )
    def post(self, request: Request, contract_id: int, number: int, action: str) -> Response:
        actor = api_person(request)
        service = VERSION_ACTIONS.get(action)
        if service is None:
            raise NotFound(
                _("No contract action %(action)r; use one of %(join)s.")
                % {"action": action, "join": ", ".join(VERSION_ACTIONS)}
            )
        version = selectors.contract_version_get(viewer=actor, contract_id=contract_id, number=number)
        data = validated(ReasonInput, request.data)
        version = service(actor=actor, version=version, reason=data["reason"])
        return Response(ContractVersionSerializer(version).data)


# --- API keys ---------------------------------------------------------------------------


class ApiKeyListApi(APIView):
    @extend_schema(
        summary="Your organisation's API keys (never the keys themselves)", responses=ApiKeySerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        actor = api_person(request)
        return Response({"results": ApiKeySerializer(selectors.api_key_list(viewer=actor), many=True).data})

    @extend_schema(
        summary="Create an API key (partner owners); the key is in this response only",
        request=ApiKeyCreateInput,
        responses={
            201: inline_serializer("IssuedApiKey", {"key": serializers.CharField(), "api_key": ApiKeySerializer()})
        },
    )
    def post(self, request: Request) -> Response:
        actor = api_person(request)
        partner_id = selectors.viewer_partner_id(actor)
        partner = selectors.partners_visible(viewer=actor).filter(pk=partner_id).first()
        if partner is None:
            raise PermissionDenied(_("Only a partner's owner can create its API keys."))
        data = validated(ApiKeyCreateInput, request.data)
        issued = services.api_key_create(actor=actor, partner=partner, name=data["name"])
        return Response({"key": issued.secret, "api_key": ApiKeySerializer(issued.key).data}, status=201)


class ApiKeyRevokeApi(APIView):
    @extend_schema(summary="Revoke an API key (partner owners)", request=None, responses=ApiKeySerializer)
    def post(self, request: Request, key_id: int) -> Response:
        actor = api_person(request)
        key = selectors.api_key_get(viewer=actor, key_id=key_id)
        key = services.api_key_revoke(actor=actor, key=key)
        return Response(ApiKeySerializer(key).data)


class MeApi(APIView):
    @extend_schema(
        summary="Who this request is authenticated as",
        responses=inline_serializer(
            "Me",
            {
                "username": serializers.CharField(),
                "role": serializers.CharField(),
                "partner": serializers.CharField(allow_null=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        partner_id = selectors.viewer_partner_id(request.user)
        partner = selectors.partners_visible(viewer=request.user).filter(pk=partner_id).first()
        return Response(
            {
                "username": request.user.username,
                "role": request.user.role,
                "partner": partner.slug if partner else None,
            }
        )


# --- partner organisations, their people and invitations --------------------------------


class PartnerSerializer(serializers.ModelSerializer):
    account_manager = serializers.CharField(source="account_manager.username", allow_null=True, default=None)

    class Meta:
        model = Partner
        fields = ["id", "slug", "name", "industry", "currency", "timezone", "account_manager", "created_at"]


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="user.display_name")
    email = serializers.EmailField(source="user.email")
    role = serializers.ChoiceField(choices=PartnerMembership.Role.choices)
    joined_at = serializers.DateTimeField(source="created_at")


class PartnerDetailSerializer(PartnerSerializer):
    members = serializers.SerializerMethodField()

    class Meta(PartnerSerializer.Meta):
        fields = [*PartnerSerializer.Meta.fields, "members"]

    @extend_schema_field(MemberSerializer(many=True))
    def get_members(self, partner: Partner) -> list[dict[str, Any]]:
        viewer = self.context["viewer"]
        return MemberSerializer(selectors.partner_members(viewer=viewer, partner=partner), many=True).data


class InvitationSerializer(serializers.ModelSerializer):
    partner = serializers.CharField(source="partner.slug")
    status = serializers.ChoiceField(choices=["pending", "accepted", "expired", "revoked"])
    invited_by = serializers.CharField(source="invited_by.username", allow_null=True, default=None)
    accepted_user = serializers.CharField(source="accepted_user.username", allow_null=True, default=None)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "partner",
            "email",
            "name",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
            "accepted_user",
            "revoked_at",
        ]


class PartnerCreateInput(serializers.Serializer):
    slug = serializers.CharField(max_length=64, help_text="Lower-case letters, digits and hyphens; unique.")
    name = serializers.CharField(max_length=120)
    industry = serializers.ChoiceField(choices=Industry.choices)
    currency = serializers.CharField(max_length=3, help_text="ISO 4217, e.g. JPY; sales and invoices use it.")
    timezone = serializers.CharField(max_length=64, help_text="IANA zone; periods are cut at its midnight.")
    account_manager = serializers.CharField(
        max_length=150,
        required=False,
        allow_null=True,
        default=None,
        help_text="Staff only: the account manager's user name. An account manager is assigned themselves.",
    )
    owner_email = serializers.EmailField(help_text="The first owner, invited by e-mail.")
    owner_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class InvitationInput(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=PartnerMembership.Role.choices, default=PartnerMembership.Role.MEMBER)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class InvitationAcceptInput(serializers.Serializer):
    token = serializers.CharField(max_length=200, help_text="The token at the end of the e-mailed link.")
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=512, trim_whitespace=False, style={"input_type": "password"})


def _site_url(request: Request) -> str:
    return request.build_absolute_uri("/")


def _account_manager(username: str | None) -> User | None:
    if not username:
        return None
    manager = selectors.account_managers().filter(username=username).first()
    if manager is None:
        raise ValidationFailed(
            _("No account manager %(username)r.") % {"username": username},
            fields={"account_manager": [f"no account manager {username!r}."]},
        )
    return manager


class PartnerListApi(APIView):
    @extend_schema(summary="Partner organisations you can see", responses=PartnerSerializer(many=True))
    def get(self, request: Request) -> Response:
        actor = api_person(request)
        partners = selectors.partners_visible(viewer=actor).select_related("account_manager").order_by("name", "pk")
        return Response({"results": PartnerSerializer(partners, many=True).data})

    @extend_schema(
        summary="Create a partner organisation and invite its owner (account managers, staff)",
        description=(
            "An account manager is assigned the partners they create; staff may name one. The owner gets "
            "an e-mail with a single-use link that expires; accepting it creates their account."
        ),
        request=PartnerCreateInput,
        responses={
            201: inline_serializer(
                "OnboardedPartner", {"partner": PartnerSerializer(), "owner_invitation": InvitationSerializer()}
            )
        },
    )
    def post(self, request: Request) -> Response:
        actor = api_person(request)
        data = validated(PartnerCreateInput, request.data)
        onboarded = services.partner_onboard(
            actor=actor,
            slug=data["slug"],
            name=data["name"],
            industry=data["industry"],
            currency=data["currency"],
            timezone_name=data["timezone"],
            account_manager=_account_manager(data["account_manager"]),
            owner_email=data["owner_email"],
            owner_name=data["owner_name"],
            site_url=_site_url(request),
        )
        return Response(
            {
                "partner": PartnerSerializer(onboarded.partner).data,
                "owner_invitation": InvitationSerializer(onboarded.owner_invitation).data,
            },
            status=201,
        )


class PartnerDetailApi(APIView):
    @extend_schema(summary="One partner organisation with its people", responses=PartnerDetailSerializer)
    def get(self, request: Request, partner_id: int) -> Response:
        actor = api_person(request)
        partner = selectors.partner_by_id(viewer=actor, partner_id=partner_id)
        return Response(PartnerDetailSerializer(partner, context={"viewer": actor}).data)


class PartnerInvitationListApi(APIView):
    @extend_schema(summary="A partner's invitations, newest first", responses=InvitationSerializer(many=True))
    def get(self, request: Request, partner_id: int) -> Response:
        actor = api_person(request)
        partner = selectors.partner_by_id(viewer=actor, partner_id=partner_id)
        invitations = selectors.invitation_list(viewer=actor, partner=partner)
        return Response({"results": InvitationSerializer(invitations, many=True).data})

    @extend_schema(
        summary="Invite someone to a partner organisation (its owners, its account manager, staff)",
        description="A pending invitation to the same address is withdrawn: only the newest link works.",
        request=InvitationInput,
        responses={201: InvitationSerializer},
    )
    def post(self, request: Request, partner_id: int) -> Response:
        actor = api_person(request)
        partner = selectors.partner_by_id(viewer=actor, partner_id=partner_id)
        data = validated(InvitationInput, request.data)
        invitation = services.invitation_send(
            actor=actor,
            partner=partner,
            email=data["email"],
            role=data["role"],
            name=data["name"],
            site_url=_site_url(request),
        )
        return Response(InvitationSerializer(invitation).data, status=201)


class InvitationRevokeApi(APIView):
    @extend_schema(summary="Withdraw an invitation not yet used", request=None, responses=InvitationSerializer)
    def post(self, request: Request, invitation_id: int) -> Response:
        actor = api_person(request)
        invitation = selectors.invitation_get(viewer=actor, invitation_id=invitation_id)
        return Response(InvitationSerializer(services.invitation_revoke(actor=actor, invitation=invitation)).data)


class InvitationAcceptApi(APIView):
    # The token is the credential: whoever holds the e-mailed link may accept it once.
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Accept an invitation: choose a user name and password",
        description=(
            "Creates the account with the invited role; sign in with it afterwards. An unknown token is "
            "`404 not_found`; a used, withdrawn or expired one `409 invalid_transition`; none changes "
            "anything."
        ),
        request=InvitationAcceptInput,
        responses={
            201: inline_serializer(
                "AcceptedInvitation",
                {
                    "username": serializers.CharField(),
                    "role": serializers.CharField(),
                    "partner": serializers.CharField(),
                    "membership": serializers.CharField(),
                },
            )
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(InvitationAcceptInput, request.data)
        user = services.invitation_accept(token=data["token"], username=data["username"], password=data["password"])
        return Response(
            {
                "username": user.username,
                "role": user.role,
                "partner": user.membership.partner.slug,
                "membership": user.membership.role,
            },
            status=201,
        )


# --- payees (finance) ---------------------------------------------------------------------


class PayeeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payee
        fields = [
            "id",
            "slug",
            "name",
            "kind",
            "payment_provider",
            "minimum_payout",
            "hold_days",
            "email",
            "stripe_account_id",
            "created_at",
        ]


class PayeeCreateInput(serializers.Serializer):
    slug = serializers.CharField(max_length=64, help_text="How contract terms name the payee in their splits.")
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=[c for c in Payee.Kind.choices if c[0] != Payee.Kind.PLATFORM])
    payment_provider = serializers.ChoiceField(choices=PaymentProvider.choices, required=False, default="")
    minimum_payout = serializers.IntegerField(min_value=0, max_value=2**63 - 1, required=False, default=0)
    hold_days = serializers.IntegerField(min_value=0, max_value=365, required=False, default=0)
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class PayeeListApi(APIView):
    permission_classes = [IsAuthenticated, IsFinance]
    role_refusal = "Payees are finance's: only finance can read or create them."

    @extend_schema(summary="Finance: every payee and how it is paid", responses=PayeeSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response({"results": PayeeSerializer(selectors.payee_list(viewer=request.user), many=True).data})

    @extend_schema(
        summary="Finance: create a payee (a studio or reseller) that contract splits can name",
        description="Onboard it to Stripe Connect from the console's Payees page afterwards.",
        request=PayeeCreateInput,
        responses={201: PayeeSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(PayeeCreateInput, request.data)
        payee = services.payee_create(actor=api_person(request), **data)
        return Response(PayeeSerializer(payee).data, status=201)
