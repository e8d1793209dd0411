"""The live layer: the intraday loop over holdings (``watch``) and paper trading (``paper``).

An entry-point layer like ``cli/`` and ``service/`` (DESIGN.md "Layers"): it may
import every layer below it (data, signals, backtest, research) and nothing
imports it except the CLI and the service.
"""
