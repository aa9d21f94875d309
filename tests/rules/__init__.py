"""Tests of rules/."""
