"""Tests of the dataset processors."""
