app_name = "suggestions"
urlpatterns = []
