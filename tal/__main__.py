"""`python -m tal …` — see tal.cli."""
import sys

from tal.cli import main

if __name__ == "__main__":
    sys.exit(main())
