"""crm-segments: the Python side of the warehouse (landing, orchestration, sample data)."""
