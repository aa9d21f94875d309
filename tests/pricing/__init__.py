"""Tests of engine.pricing."""
