"""`python -m rag.cli …` runs the `pilotqa` command."""
import sys

from rag.cli.main import main

sys.exit(main())
