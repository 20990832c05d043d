"""Run the classifier command line: `python -m intents`."""

from intents.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
