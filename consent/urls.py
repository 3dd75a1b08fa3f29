app_name = "consent"
urlpatterns = []
