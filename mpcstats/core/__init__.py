"""Plaintext building blocks: fields, sharing, randomness. Nothing here communicates."""
