"""``python -m phendiff`` (also what ``accelerate launch -m phendiff`` runs)."""

from phendiff.cli import main

if __name__ == "__main__":
    main()
