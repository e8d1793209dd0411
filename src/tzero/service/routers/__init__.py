"""One router per resource: ``lstm`` (spec 004 §5.2), ``signals``, ``kline``, ``health``, ``jobs``."""
