"""The media engine: one pipeline per call, from the student's audio and text to the tutor's."""
