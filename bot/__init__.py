"""Backlog Bot."""
