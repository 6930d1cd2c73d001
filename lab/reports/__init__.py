"""What a run leaves for people (terminal.py) and for programs (result.py)."""
