"""tzero: A-share forecasting and unified T+0 signals.

Layers (imports point down only), see DESIGN.md:
``cli`` → ``signals`` → ``backtest`` → ``registry`` → ``training`` → ``models``
→ ``features`` → ``data`` → ``market``.
"""

__version__ = "0.1.0"
