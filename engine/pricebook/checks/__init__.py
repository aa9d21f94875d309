"""Table checks: each module checks one group of sheets and reports findings; none raises."""
