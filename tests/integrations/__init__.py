"""Stories about integrations, one module per integration."""
