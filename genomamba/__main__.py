from genomamba.cli import main

raise SystemExit(main())
