"""Parley settings: one module, driven by environment variables.

Every variable is listed in docs/settings.md. The defaults are the embedded
ones (`make run`): SQLite, the in-memory channel layer, the SFU in-process.
Production is the same code with other variables, never a second code path.
A wrong value stops the start with a message that names the variable.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_db,
    env_email,
    env_int,
    env_list,
    env_port_range,
    env_secret,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

if DEBUG:
    # A well-known key is fine on a developer's laptop and nowhere else.
    SECRET_KEY = env_secret(
        "SECRET_KEY", "django-insecure-parley-development-only-never-use-in-production"
    )
else:
    SECRET_KEY = env_secret("SECRET_KEY")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "Environment variable ALLOWED_HOSTS: is required when DEBUG is off "
        "(the host names this server answers to, comma-separated)."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            "Environment variable CSRF_TRUSTED_ORIGINS: each origin must start "
            f"with http:// or https://, got {_origin!r}."
        )

INSTALLED_APPS = [
    # daphne first, so that `runserver` serves ASGI (WebSockets) too.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "csp",
    "accounts",
    "meetings",
    "signaling",
    "hosting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "meetings.middleware.GuestScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.PermissionsPolicyMiddleware",
    # Last, as django-axes asks: it turns a lockout into our lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env_db("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # daphne runs database work in threads. BEGIN IMMEDIATE takes the write
    # lock up front, so concurrent writers queue (up to the timeout) instead
    # of failing with "database is locked" when a read tries to upgrade; WAL
    # lets readers carry on meanwhile.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss", "unix"))
# Keeps the keys of deployments that share one Redis apart.
REDIS_PREFIX = env_str("REDIS_PREFIX", "parley")
# The cache holds the sign-up and password-reset limits (accounts/throttle.py):
# shared through Redis when there is one, so that every process counts alike.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# A layer drops messages for a connection whose queue is full (Channels'
# default: 100). A burst of chat in a 100-person room fills that; 1000 holds
# several seconds of a busy meeting for a slow client.
CHANNEL_CAPACITY = 1000
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "signaling.layers.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, which
                # races the layer's own 5 s blocking pop and kills idle sockets
                # (django/channels_redis#422): no client-side read timeout.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "capacity": CHANNEL_CAPACITY,
                "prefix": REDIS_PREFIX,
            },
        }
    }
else:
    # One process only: fine for `make run`, wrong for several daphne workers.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY},
        }
    }

AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out sign-in before the password is
# even checked, on our sign-in page and the admin's alike.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# In production a reverse proxy serves STATIC_ROOT (after collectstatic);
# the embedded server serves /static/ itself.
SERVE_STATIC = env_bool("SERVE_STATIC", DEBUG)

_email = env_email("EMAIL_URL", "consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Parley <parley@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Security. Secure by default: production gets HTTPS-only cookies, HSTS and a
# redirect to HTTPS without anyone having to remember them.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int(
    "SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
TRUST_X_FORWARDED_PROTO = env_bool("TRUST_X_FORWARDED_PROTO", False)
if TRUST_X_FORWARDED_PROTO:
    # Only behind a proxy that sets this header itself and strips the client's.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many reverse proxies append to X-Forwarded-For before a request reaches
# us; 0 takes the connection's address (accounts.throttle.client_ip).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=5)

# Sign-in lockout (django-axes): after AXES_FAILURE_LIMIT wrong passwords for
# one address from one client, sign-in is refused for AXES_COOLOFF_TIME, even
# with the right password. Success resets the count.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1, maximum=24 * 60)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Sign-in forms post the address as "username" (Django's AuthenticationForm).
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.throttle.login_username"
AXES_CLIENT_IP_CALLABLE = "accounts.throttle.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
# Failures are kept (the admin lists them); a row per successful sign-in is not.
AXES_DISABLE_ACCESS_LOG = True

# Sign-up and password reset send e-mail: per hour, at most this many
# requests from one client address, and for one target address.
ACCOUNT_EMAILS_PER_IP = env_int("ACCOUNT_EMAILS_PER_IP", 10, minimum=1)
GUESTS_PER_IP = env_int("GUESTS_PER_IP", 30, minimum=1)
ACCOUNT_EMAILS_PER_ADDRESS = env_int("ACCOUNT_EMAILS_PER_ADDRESS", 3, minimum=1)

# Content-Security-Policy (django-csp): scripts and styles only from our own
# static files, no inline code; media from the camera and our own origin.
# 'self' also covers the same-origin ws:/wss: signaling socket (CSP Level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:", "mediastream:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Permissions-Policy (config/middleware.py): the meeting may use the camera,
# microphone and screen capture of this origin; nothing else that matters.
# Only features Chromium knows: it logs an error for any other.
PERMISSIONS_POLICY = {
    "camera": ["self"],
    "microphone": ["self"],
    "display-capture": ["self"],
    "geolocation": [],
    "payment": [],
    "usb": [],
    "serial": [],
    "hid": [],
    "midi": [],
    "accelerometer": [],
    "gyroscope": [],
    "magnetometer": [],
    "xr-spatial-tracking": [],
    "idle-detection": [],
}

# Network traversal (see docs/settings.md). TURN credentials are minted per
# user from TURN_SECRET (coturn's use-auth-secret) and expire after
# TURN_CREDENTIAL_TTL seconds; the secret itself never reaches a page.
STUN_URLS = env_list("STUN_URLS")
TURN_URLS = env_list("TURN_URLS")
TURN_SECRET = env_secret("TURN_SECRET", "")
TURN_CREDENTIAL_TTL = env_int(
    "TURN_CREDENTIAL_TTL", 4 * 3600, minimum=60, maximum=86_400
)
for _name, _urls, _schemes in (
    ("STUN_URLS", STUN_URLS, ("stun:", "stuns:")),
    ("TURN_URLS", TURN_URLS, ("turn:", "turns:")),
):
    for _url in _urls:
        if not _url.startswith(_schemes):
            raise ImproperlyConfigured(
                f"Environment variable {_name}: each URL must start with "
                f"{' or '.join(_schemes)}, got {_url!r}."
            )
if TURN_URLS and not TURN_SECRET:
    raise ImproperlyConfigured(
        "Environment variable TURN_SECRET: is required when TURN_URLS is set "
        "(the static-auth-secret of your coturn server)."
    )

# The first superuser, created by `make run` when none exists.
ADMIN_EMAIL = env_str("ADMIN_EMAIL", "admin@localhost")
ADMIN_PASSWORD = env_secret("ADMIN_PASSWORD", "")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        "Environment variable LOG_LEVEL: expected DEBUG, INFO, WARNING, ERROR or "
        f"CRITICAL, got {LOG_LEVEL!r}."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Per-request access lines from daphne drown everything else.
        "django.channels.server": {"level": "WARNING"},
        # Every ICE check state change is an INFO line: hundreds per call.
        "aioice": {"level": "WARNING"},
        # A banner at every start of every process and management command.
        "axes": {"level": "WARNING"},
    },
}

# Meetings and signaling. Timings are settings so tests can shorten them.
MEETING_RECONNECT_GRACE = env_int("MEETING_RECONNECT_GRACE", 30, minimum=0, maximum=600)
# A live connection renews its participant's presence every third of this;
# a participant whose server process died is let go when it runs out (or
# when the grace period does, whichever is longer).
MEETING_PRESENCE_LEASE = env_int("MEETING_PRESENCE_LEASE", 15, minimum=3, maximum=600)
# Someone a moderator turned away from the lobby may knock again after this.
LOBBY_COOL_DOWN = env_int("LOBBY_COOL_DOWN", 60, minimum=0, maximum=3600)
SIGNALING_PING_INTERVAL = env_int("SIGNALING_PING_INTERVAL", 20, minimum=1, maximum=300)
SIGNALING_PING_TIMEOUT = env_int("SIGNALING_PING_TIMEOUT", 45, minimum=2, maximum=600)
# Where the SFU runs (hosting/): "embedded" in this process,
# "worker" in `manage.py sfu_worker` (through Redis), or "none" (no media;
# signaling, chat and moderation still work).
SFU_MODE = env_str("SFU_MODE", "embedded")
if SFU_MODE not in ("embedded", "worker", "none"):
    raise ImproperlyConfigured(
        "Environment variable SFU_MODE: expected embedded, worker or none, "
        f"got {SFU_MODE!r}."
    )
if SFU_MODE == "worker" and not REDIS_URL:
    raise ImproperlyConfigured(
        "Environment variable SFU_MODE: worker needs REDIS_URL, the channel layer "
        "that daphne processes and the SFU worker share."
    )
SFU_WORKER_CHANNEL = env_str("SFU_WORKER_CHANNEL", "sfu.worker")
# The address the SFU announces in its ICE candidates, for a server behind
# 1:1 NAT (e.g. a cloud VM's public IP); empty: its interfaces' addresses.
SFU_ANNOUNCED_ADDRESS = env_str("SFU_ANNOUNCED_ADDRESS", "")
# ICE candidates from browsers name where the SFU sends connectivity checks:
# addresses outside these networks (and public ones) are refused, so that no
# client can make the SFU send packets into the server's own network or to
# itself. Empty: the private networks this host is on. mDNS (.local) names are
# never resolved; ICE still works through peer-reflexive candidates.
SFU_CANDIDATE_NETWORKS = env_list("SFU_CANDIDATE_NETWORKS")
for _network in SFU_CANDIDATE_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            "Environment variable SFU_CANDIDATE_NETWORKS: expected networks like "
            f"10.0.0.0/8, comma-separated, got {_network!r}."
        ) from None
SFU_MAX_CANDIDATES = env_int("SFU_MAX_CANDIDATES", 32, minimum=4, maximum=1000)
# The UDP ports the SFU's ICE host candidates bind to, e.g. 50000-50199, so
# that a firewall can open just those: each peer connection takes one (the
# same on every address), and a participant has two (up and down). Empty:
# ports the OS picks. Ten at least (five participants): fewer is a typo.
SFU_UDP_PORTS = env_port_range("SFU_UDP_PORTS", minimum_size=10)
# How the SFU forwards media (sfu/sfu.py): "frames" lets aiortc assemble
# frames and re-packetise them; "packets" rewrites each RTP packet per
# subscriber and sends it on (sfu/ingress.py, sfu/egress.py), at less than
# half the CPU, but not yet the default: under CI's load a browser then
# received a third person's media at a trickle (issue 11's note).
SFU_FORWARDING = env_str("SFU_FORWARDING", "frames")
if SFU_FORWARDING not in ("packets", "frames"):
    raise ImproperlyConfigured(
        "Environment variable SFU_FORWARDING: expected packets or frames, "
        f"got {SFU_FORWARDING!r}."
    )
