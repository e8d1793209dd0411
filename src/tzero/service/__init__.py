"""The HTTP service of tzero (FastAPI): lifecycle API of spec 004 §5.2, signals, klines, jobs.

Start it with ``tzero serve``; build it in code with :func:`tzero.service.app.create_app`.
"""
