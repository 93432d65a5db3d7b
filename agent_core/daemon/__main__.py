import sys

from agent_core.daemon.supervisor import main

sys.exit(main())
