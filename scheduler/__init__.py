"""Running crawls: the local subprocess executor and the APScheduler service."""
