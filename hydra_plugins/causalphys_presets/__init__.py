"""causalphys's Hydra search-path plugin: the config groups shipped inside the package (see :mod:`.presets`)."""
