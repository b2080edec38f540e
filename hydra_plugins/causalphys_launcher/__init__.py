"""causalphys's Hydra launcher plugin: ``hydra/launcher=slurm`` (see :mod:`.slurm`)."""
