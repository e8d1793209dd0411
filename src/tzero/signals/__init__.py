"""The unified Signal, model votes and the T+0 intensity policy."""
