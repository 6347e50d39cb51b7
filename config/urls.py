from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from agents import api as agents_api
from contracts import api as contracts_api
from core.forms import LoginForm
from employees import api as employees_api
from revenue import api as revenue_api
from revenue import api_payments, api_statements

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script from a URL: no inline script (CSP); its page
    # template is ours, to take the inline <style> element out (style-src 'self').
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
         name="api-docs"),
    path("me", contracts_api.MeApi.as_view(), name="api-me"),
    path("employees", employees_api.EmployeeListApi.as_view(), name="api-employees"),
    path("employees/<slug:slug>", employees_api.EmployeeDetailApi.as_view(), name="api-employee"),
    path("widget/config", agents_api.WidgetConfigApi.as_view(), name="api-widget-config"),
    path("widget/conversations", agents_api.WidgetConversationStartApi.as_view(), name="api-widget-conversations"),
    path("widget/conversations/<str:public_id>/messages", agents_api.WidgetMessagesApi.as_view(),
         name="api-widget-messages"),
    path("conversations/<int:conversation_id>", agents_api.ConversationDetailApi.as_view(), name="api-conversation"),
    path("placements/<int:placement_id>/conversations", agents_api.PlacementConversationsApi.as_view(),
         name="api-placement-conversations"),
    path("placements", contracts_api.PlacementListApi.as_view(), name="api-placements"),
    path("placements/<int:placement_id>", contracts_api.PlacementDetailApi.as_view(),
         name="api-placement"),
    path("placements/<int:placement_id>/<slug:action>", contracts_api.PlacementActionApi.as_view(),
         name="api-placement-action"),
    path("contracts", contracts_api.ContractListApi.as_view(), name="api-contracts"),
    path("contracts/<int:contract_id>", contracts_api.ContractDetailApi.as_view(),
         name="api-contract"),
    path("contracts/<int:contract_id>/versions", contracts_api.ContractVersionListApi.as_view(),
         name="api-contract-versions"),
    path("contracts/<int:contract_id>/versions/<int:number>",
         contracts_api.ContractVersionDetailApi.as_view(), name="api-contract-version"),
    path("contracts/<int:contract_id>/versions/<int:number>/<slug:action>",
         contracts_api.ContractVersionActionApi.as_view(), name="api-contract-version-action"),
    path("partners", contracts_api.PartnerListApi.as_view(), name="api-partners"),
    path("partners/<int:partner_id>", contracts_api.PartnerDetailApi.as_view(), name="api-partner"),
    path("partners/<int:partner_id>/invitations", contracts_api.PartnerInvitationListApi.as_view(),
         name="api-partner-invitations"),
    path("invitations/accept", contracts_api.InvitationAcceptApi.as_view(), name="api-invitation-accept"),
    path("invitations/<int:invitation_id>/revoke", contracts_api.InvitationRevokeApi.as_view(),
         name="api-invitation-revoke"),
    path("payees", contracts_api.PayeeListApi.as_view(), name="api-payees"),
    path("api-keys", contracts_api.ApiKeyListApi.as_view(), name="api-keys"),
    path("api-keys/<int:key_id>/revoke", contracts_api.ApiKeyRevokeApi.as_view(),
         name="api-key-revoke"),
    path("statements", api_statements.StatementListApi.as_view(), name="api-statements"),
    path("statements/<int:statement_id>", api_statements.StatementDetailApi.as_view(),
         name="api-statement"),
    path("statements/<int:statement_id>/<slug:action>", api_statements.StatementActionApi.as_view(),
         name="api-statement-action"),
    path("settlement-runs", api_statements.SettlementRunListApi.as_view(), name="api-settlement-runs"),
    path("settlement-runs/<int:run_id>", api_statements.SettlementRunDetailApi.as_view(),
         name="api-settlement-run"),
    path("settlement-runs/<int:run_id>/submit", api_statements.SettlementRunBatchApi.as_view(action="submit"),
         name="api-settlement-run-submit"),
    path("settlement-runs/<int:run_id>/approve", api_statements.SettlementRunBatchApi.as_view(action="approve"),
         name="api-settlement-run-approve"),
    path("invoices", api_payments.InvoiceListApi.as_view(), name="api-invoices"),
    path("invoices/<int:invoice_id>", api_payments.InvoiceDetailApi.as_view(), name="api-invoice"),
    path("payout-runs", api_payments.PayoutRunListApi.as_view(), name="api-payout-runs"),
    path("payout-runs/<int:run_id>", api_payments.PayoutRunDetailApi.as_view(), name="api-payout-run"),
    path("sales/<str:external_id>/attribution", api_statements.SaleAttributionApi.as_view(),
         name="api-sale-attribution"),
    path("sales", revenue_api.SalesIngestApi.as_view(), name="api-sales"),
    path("touchpoints", revenue_api.TouchpointsIngestApi.as_view(), name="api-touchpoints"),
    path("outcomes", revenue_api.OutcomesIngestApi.as_view(), name="api-outcomes"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(api_v1)),
    path("webhooks/stripe/", api_payments.stripe_webhook, name="stripe-webhook"),
    path("", include("core.urls")),
    path("employees/", include("employees.urls")),
    path("", include("contracts.urls")),
    path("", include("revenue.urls")),
    path("", include("agents.urls")),
]

# Under /api/ Django's own 400/403/404/500 answers use the API's error shape (core.api).
handler400 = "core.api.bad_request"
handler403 = "core.api.permission_denied"
handler404 = "core.api.page_not_found"
handler500 = "core.api.server_error"
