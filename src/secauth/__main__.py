"""``python -m secauth`` runs the ``secauth`` command."""

from secauth.cli import main

raise SystemExit(main())
