from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from agents import urls as agents_urls
from contracts import urls as contracts_urls
from core.forms import LoginForm
from employees import urls as employees_urls
from ledger import urls as ledger_urls
from payments import api as payments_api
from payments import urls as payments_urls
from revenue import urls as revenue_urls
from webhooks import urls as webhooks_urls

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    # Each app's endpoints. Order matters where patterns overlap: agents'
    # placements/<id>/conversations must come before contracts' placements/<id>/<action>.
    *employees_urls.api_urlpatterns,
    *agents_urls.api_urlpatterns,
    *contracts_urls.api_urlpatterns,
    *revenue_urls.api_urlpatterns,
    *ledger_urls.api_urlpatterns,
    *payments_urls.api_urlpatterns,
    *webhooks_urls.api_urlpatterns,
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(api_v1)),
    path("webhooks/stripe/", payments_api.stripe_webhook, name="stripe-webhook"),
    path("", include("core.urls")),
    path("employees/", include("employees.urls")),
    path("", include("contracts.urls")),
    path("", include("ledger.urls")),
    path("", include("revenue.urls")),
    path("", include("payments.urls")),
    path("", include("agents.urls")),
    path("", include("webhooks.urls")),
]

# Under /api/ Django's own 400/403/404/500 answers use the API's error shape (core.api).
handler400 = "core.api.bad_request"
handler403 = "core.api.permission_denied"
handler404 = "core.api.page_not_found"
handler500 = "core.api.server_error"
