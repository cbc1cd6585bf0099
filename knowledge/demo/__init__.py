"""Demo course material for the seeded tutors (written for this project)."""
