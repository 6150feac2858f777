from django.urls import path

from reviews.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("history/", views.history, name="history"),
    path("reviews/<int:pk>/", views.review_detail, name="review-detail"),
    path("reviews/<int:pk>/flag/", views.review_flag, name="review-flag"),
    path("reviews/<int:pk>/explain/", views.review_explain, name="review-explain"),
    path("reviews/<int:pk>/explanation.json", views.review_explanation_status, name="review-explanation-status"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("queue/", views.label_queue_page, name="label-queue"),
    path("queue/<int:pk>/label/", views.label_queue_label, name="label-queue-label"),
]
