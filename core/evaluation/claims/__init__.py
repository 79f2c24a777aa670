"""The Claims page: each paper's claim beside what the project measured (:mod:`.rows`)."""
