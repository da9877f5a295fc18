"""Inference and tooling operations behind the CLI."""
