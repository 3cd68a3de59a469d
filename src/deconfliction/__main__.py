from deconfliction.cli import main

raise SystemExit(main())
