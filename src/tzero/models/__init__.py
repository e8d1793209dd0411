"""Forecasters behind one interface (:class:`tzero.models.base.Forecaster`)."""
