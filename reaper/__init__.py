"""The reaper: periodic tasks that delete expired kata volumes (see the reaper issue)."""
