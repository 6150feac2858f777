from django.urls import path

from reviews import views

urlpatterns = [
    path("", views.home, name="home"),
    path("history/", views.history, name="history"),
    path("reviews/<int:pk>/", views.review_detail, name="review-detail"),
    path("reviews/<int:pk>/flag/", views.review_flag, name="review-flag"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
