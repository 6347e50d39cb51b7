from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from core.models import User


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands where its work is."""
    if request.user.role == User.Role.PARTNER:
        return redirect("portal")
    return redirect("console")
