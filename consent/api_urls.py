from django.urls import path

from consent import api

urlpatterns = [
    path("consent/", api.ConsentStateApi.as_view(), name="api-consent-state"),
    path("consent/history/", api.ConsentHistoryApi.as_view(), name="api-consent-history"),
    path("consent/notices/<str:purpose>/", api.NoticeCurrentApi.as_view(), name="api-consent-notice"),
    path("consent/receipts/public-key/", api.ReceiptPublicKeyApi.as_view(), name="api-consent-receipt-key"),
    path("consent/receipts/<str:entry_id>/", api.ReceiptApi.as_view(), name="api-consent-receipt"),
    path("consent/<str:purpose>/", api.ConsentSetApi.as_view(), name="api-consent-set"),
]
