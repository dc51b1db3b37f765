"""Core value types, errors, limits and settings: what every layer may import."""
