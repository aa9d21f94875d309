"""`path("dashboard/", include("creditbook_django.dashboard_urls"))` mounts the clinic dashboard
(creditbook_django/dashboard.py) with its own login and logout pages."""

from __future__ import annotations

from django.contrib.auth import views as auth
from django.urls import path

from creditbook_django import dashboard

app_name = dashboard.NAMESPACE

urlpatterns = [
    path("", dashboard.index, name="index"),
    path(
        "login/",
        auth.LoginView.as_view(
            template_name="creditbook/dashboard/login.html",
            redirect_authenticated_user=True,
            next_page="creditbook-dashboard:index",
        ),
        name="login",
    ),
    path("logout/", auth.LogoutView.as_view(next_page="creditbook-dashboard:login"), name="logout"),
    path("<str:clinic_id>/", dashboard.home, name="home"),
    path("<str:clinic_id>/topup/", dashboard.topup, name="topup"),
    path("<str:clinic_id>/topup/pay/", dashboard.topup_pay, name="topup_pay"),
    path("<str:clinic_id>/topup/check/", dashboard.topup_check, name="topup_check"),
    path("<str:clinic_id>/disputes/", dashboard.dispute, name="dispute"),
    path("<str:clinic_id>/ledger/", dashboard.ledger_page, name="ledger"),
    path("<str:clinic_id>/ledger.csv", dashboard.ledger_csv, name="ledger_csv"),
    path("<str:clinic_id>/alerts/", dashboard.alerts, name="alerts"),
]
