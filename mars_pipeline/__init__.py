"""mars_pipeline: the product on top of the three cores: offline counting, demos, whole-pipeline tools."""
