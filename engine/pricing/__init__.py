"""Pure quoting on a compiled pricebook: tiers, SMS segments, voice minutes, lead tables, packages and
bundles. No clock, no I/O: same pricebook and request, same Quote."""
