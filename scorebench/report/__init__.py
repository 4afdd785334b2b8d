"""Leaderboards, comparisons and report files (Markdown, JSON, HTML)."""
