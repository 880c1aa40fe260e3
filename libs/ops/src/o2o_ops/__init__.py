"""Operator commands for a platform installed with the chart helm/o2o."""
