"""Structured logging with Powertools. Never log whole events: they carry principals, keys and tokens."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="tourniquet")
