"""The worker process (manage.py runworker): what web processes asked for, and the schedule.

    queue         claims, heartbeats and leases: coordination through the database
    training      a training run's whole life, in labelled stages, ending in one outcome
    explanations  the explainer cache (loaded and compiled ahead) and computing explanations
    scheduler     the APScheduler wiring of the jobs above
"""
