"""Where the media server runs, chosen by ``settings.SFU_MODE``.

- ``embedded``: the SFU runs in this daphne process's event loop
  (``hosting.embedded``).
- ``worker``: the SFU runs in ``python manage.py sfu_worker``; each daphne
  process reaches it through the (Redis) channel layer (``hosting.worker``).
- ``none``: no media; signaling, chat and moderation still work.

``hosting.factory.make_media_server`` makes the one for this process;
config/asgi.py installs it in ``signaling.bridge``. Whichever it is, it
implements ``sfu.api.MediaServer``: signaling never knows which. This app
may import both ``sfu`` and ``signaling``; they never import it.
"""
