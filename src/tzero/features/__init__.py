"""Pure feature functions (no I/O): technical indicators and the LSTM spec features."""
