"""The built-in handlers of the pipeline's library steps: one module per task type."""
