"""A-share domain rules: symbols, the XSHG calendar, intraday sessions. No I/O."""
