"""Pricebooks: read safely, validate cell by cell, compile to an immutable hashed version."""
