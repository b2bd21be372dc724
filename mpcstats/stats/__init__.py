"""Joint statistics: local aggregation, secure combination, release to the analyst only."""
