"""Sources (TDX files, Tushare-style tables), the market store, ingestion and quality checks."""
