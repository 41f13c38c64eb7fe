"""`python -m gae_emu` runs the CLI (the reloader starts its child this way)."""
from gae_emu.cli import main

main()
