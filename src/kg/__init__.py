"""kg: the knowledge graph of the Guangzhou–Qiannan East–West cooperation."""

__version__ = "0.1.0"
