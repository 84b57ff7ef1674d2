"""Run outputs: results tables (CSV, markdown), training curves, retrieval example sheets."""
