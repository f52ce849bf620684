"""The segment catalogue: analyst-written definitions, validated and compiled to injection-proof SQL."""
