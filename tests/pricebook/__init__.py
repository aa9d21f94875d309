"""Tests of engine.pricebook."""
