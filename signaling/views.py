"""The one HTTP endpoint signaling owns: ICE servers for the pre-call network
test, which runs before the WebSocket is open."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from signaling.ice import ice_servers_for


@never_cache
@require_GET
def ice_servers(request: HttpRequest) -> JsonResponse:
    # TURN credentials are per user: an anonymous caller gets none.
    if not request.user.is_authenticated:
        return JsonResponse({"error": "Sign in to test your connection."}, status=401)
    return JsonResponse({"ice_servers": ice_servers_for(user_id=request.user.pk)})
