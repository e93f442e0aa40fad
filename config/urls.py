from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Parley administration"
admin.site.site_title = "Parley admin"
admin.site.index_title = "Users, rooms and meetings"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("meetings.urls")),
]
