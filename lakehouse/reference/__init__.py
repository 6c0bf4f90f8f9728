"""Reference data shared by the simulator and the transforms."""
