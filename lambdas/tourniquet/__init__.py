"""Tourniquet runtime: the Lambda handlers and the domain logic behind them.

One package ships as one asset. Handlers are thin (``<domain>.handler.<name>``); the logic lives in plain
modules that can be tested without AWS.
"""
