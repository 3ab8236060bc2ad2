"""sts-labkit: learn AWS STS AssumeRole hands-on, offline or against a real account."""

__version__ = "0.1.0"
