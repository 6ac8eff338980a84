"""Executors: one per run kind. Plain values in (a spec dict), results out;
side effects only through services/; progress through a reporter."""
