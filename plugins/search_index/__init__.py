"""Placeholder until its issue lands: registers nothing yet."""


def register():
    pass
