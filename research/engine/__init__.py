"""The engine: config, data, training programs, the seed-parallel runner, checkpoints, report.
It imports research.lib only and never compares a study name: studies reach it through the
Study interface (research.engine.study)."""
