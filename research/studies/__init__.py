"""Built-in studies, one folder each, behind the Study interface (research.engine.study)."""
