"""The course kit: a student edition with the backward passes removed, the solutions kept
apart, and an autograder that scores a submission piece by piece.

``minis2s course build OUT [--assignments A1,A3]`` (:func:`minis2s.course.build.build`)
and ``minis2s course grade SUBMISSION [--json results.json]`` (the autograder's
``grade.py``); the assignments, their pieces and points are listed in
``assignments.toml``, read by :func:`minis2s.course.catalog.load`. The instructor's
page is ``docs/course.md``.
"""
