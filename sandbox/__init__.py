"""One docker host and what runs inside its containers: the engine seam, disks, images, live
kata containers, the operations on a kata, the in-container scripts and their report.

It knows neither Redis nor Celery: the worker joins it to the mailbox.
"""
