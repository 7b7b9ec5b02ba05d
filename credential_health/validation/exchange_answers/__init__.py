"""Per-exchange answer shapes and error-code rows that `validation.answers` assembles into its one table."""
