"""Out-of-sample evaluation against naive baselines (metrics, IC / Rank IC)."""
