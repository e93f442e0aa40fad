"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before anything imports models (the routing does).
django_http = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from config.sfu_hosting import make_bridge  # noqa: E402
from signaling.bridge import set_bridge_factory  # noqa: E402
from signaling.origin import SameOriginValidator  # noqa: E402
from signaling.routing import websocket_urlpatterns  # noqa: E402

set_bridge_factory(make_bridge)

if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_http = ASGIStaticFilesHandler(django_http)

application = ProtocolTypeRouter(
    {
        "http": django_http,
        # Origin must be exactly our page's origin (scheme, host and port):
        # another site, or another port of ours, cannot open a socket with
        # our user's cookies (cross-site WebSocket hijacking).
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
