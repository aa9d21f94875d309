"""`path("api/credits/", include("creditbook_django.urls"))` mounts every endpoint. Ids in paths are
matched as text and checked by the view, so that a malformed id is a problem-details answer, not
Django's HTML 404 page."""

from __future__ import annotations

from django.urls import path

from creditbook_django import views
from creditbook_django.schema import SchemaView

app_name = "creditbook"

urlpatterns = [
    path("packages/", views.PackagesView.as_view(), name="packages"),
    path("purchase/", views.PurchaseView.as_view(), name="purchase"),
    path("balance/", views.BalanceView.as_view(), name="balance"),
    path("transactions/", views.TransactionsView.as_view(), name="transactions"),
    path("quote/", views.QuoteView.as_view(), name="quote"),
    path("promotions/", views.PromotionsView.as_view(), name="promotions"),
    path("disputes/", views.DisputesView.as_view(), name="disputes"),
    path("disputes/<str:dispute_id>/", views.DisputeView.as_view(), name="dispute"),
    path("charges/leads/", views.LeadChargeView.as_view(), name="lead-charges"),
    path("charges/campaigns/", views.CampaignChargeView.as_view(), name="campaign-charges"),
    path("staff/disputes/<str:dispute_id>/decision/", views.DecisionView.as_view(), name="dispute-decision"),
    path("staff/adjustments/", views.AdjustmentView.as_view(), name="adjustments"),
    path("staff/revenue/", views.RevenueView.as_view(), name="revenue"),
    path("schema/", SchemaView.as_view(), name="schema"),
]
