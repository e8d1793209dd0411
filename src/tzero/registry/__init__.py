"""Model versions on disk (this issue: files; the lifecycle issue adds the app store)."""
