"""The crawl code, imported as the crawl launcher imports it (scheduler/launcher.py), for the
warm CLI's fork server (tests/warm_cli.py) to import once: a scheduler it forks then forks
its crawl launcher warm instead of starting a cold one."""

from scheduler.launcher import preload

preload()
