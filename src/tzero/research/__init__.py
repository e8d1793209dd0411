"""Research families: walk-forward runs of signal variants, judged and stored (DESIGN.md "Layers").

Above ``signals/`` (the families drive the served models and signals) and
``backtest/`` (rules, costs, simulators, metrics, gates); ``signals/`` reads
the stored verdicts through :func:`tzero.backtest.gates.blocked_models`, never
this package.
"""
