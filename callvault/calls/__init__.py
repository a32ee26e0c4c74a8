"""The vault's calls: storing them (one transaction each), finding them, and rendering them."""
