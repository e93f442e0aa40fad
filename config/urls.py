from django.contrib import admin
from django.urls import include, path

from signaling.views import ice_servers

admin.site.site_header = "Parley administration"
admin.site.site_title = "Parley admin"
admin.site.index_title = "Users, rooms and meetings"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/ice-servers/", ice_servers, name="ice_servers"),
    path("accounts/", include("accounts.urls")),
    path("", include("meetings.urls")),
]
