"""creditbook tests; the layout mirrors the packages."""
