"""ASGI entry point: HTTP through Django, WebSockets through Channels, and
the process's lifespan (its media server is closed when it stops)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before anything imports models (the routing does).
django_http = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from hosting.factory import make_media_server  # noqa: E402
from hosting.lifespan import close_media_when_daphne_stops, lifespan  # noqa: E402
from signaling.bridge import set_media_factory  # noqa: E402
from signaling.origin import SameOriginValidator  # noqa: E402
from signaling.routing import websocket_urlpatterns  # noqa: E402

# The media server (settings.SFU_MODE) is made on first use, in the loop it
# serves, and closed when the server stops: through the ASGI lifespan
# protocol, and under daphne, which does not speak it, by its reactor.
set_media_factory(make_media_server)
close_media_when_daphne_stops()

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
        "lifespan": lifespan,
    }
)
